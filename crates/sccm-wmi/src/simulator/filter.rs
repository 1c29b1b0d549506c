//! The part of OData's `$filter` grammar the simulated AdminService
//! evaluates: comparisons (`eq ne gt ge lt le`) of a property with a
//! literal, `and`, `or`, `not`, parentheses, and the functions
//! `startswith`, `endswith` and `contains`. Anything else is refused with
//! the 400 a real provider gives for a filter it cannot run.

use crate::Value;
use crate::simulator::data::same;
use crate::{Instance, Result};

const MAX_DEPTH: usize = 32;

/// A parsed filter.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Expr {
    Cmp(String, Op, Value),
    Func(Func, String, String),
    And(Box<Self>, Box<Self>),
    Or(Box<Self>, Box<Self>),
    Not(Box<Self>),
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub(crate) enum Func {
    StartsWith,
    EndsWith,
    Contains,
}

pub(crate) fn parse(text: &str) -> Result<Expr, String> {
    let tokens = tokenize(text)?;
    let mut p = Parser { tokens, pos: 0 };
    let e = p.or(0)?;
    if p.pos != p.tokens.len() {
        return Err(format!("unexpected {:?}", p.tokens[p.pos]));
    }
    Ok(e)
}

impl Expr {
    pub(crate) fn matches(&self, i: &Instance) -> bool {
        match self {
            Self::And(a, b) => a.matches(i) && b.matches(i),
            Self::Or(a, b) => a.matches(i) || b.matches(i),
            Self::Not(a) => !a.matches(i),
            Self::Func(f, prop, arg) => {
                let Some(v) = i.get(prop).and_then(Value::as_str) else {
                    return false;
                };
                let (v, arg) = (v.to_ascii_lowercase(), arg.to_ascii_lowercase());
                match f {
                    Func::StartsWith => v.starts_with(&arg),
                    Func::EndsWith => v.ends_with(&arg),
                    Func::Contains => v.contains(&arg),
                }
            }
            Self::Cmp(prop, op, lit) => {
                let v = i.get(prop).cloned().unwrap_or(Value::Null);
                let ord = match (v.as_f64(), lit.as_f64()) {
                    (Some(a), Some(b))
                        if !matches!(v, Value::String(_)) || lit.as_str().is_none() =>
                    {
                        a.partial_cmp(&b)
                    }
                    _ => match (v.as_str(), lit.as_str()) {
                        (Some(a), Some(b)) => {
                            Some(a.to_ascii_lowercase().cmp(&b.to_ascii_lowercase()))
                        }
                        _ => None,
                    },
                };
                match op {
                    Op::Eq => same(&v, lit) || ord == Some(std::cmp::Ordering::Equal),
                    Op::Ne => !(same(&v, lit) || ord == Some(std::cmp::Ordering::Equal)),
                    Op::Gt => ord == Some(std::cmp::Ordering::Greater),
                    Op::Ge => ord.is_some_and(|o| o != std::cmp::Ordering::Less),
                    Op::Lt => ord == Some(std::cmp::Ordering::Less),
                    Op::Le => ord.is_some_and(|o| o != std::cmp::Ordering::Greater),
                }
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Num(String),
    LParen,
    RParen,
    Comma,
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' => i += 1,
            b'(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            b')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            b',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            b'\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match text[i..].find('\'') {
                        None => return Err("an unterminated string".to_owned()),
                        Some(n) => {
                            s.push_str(&text[i..i + n]);
                            i += n + 1;
                            if b.get(i) == Some(&b'\'') {
                                s.push('\'');
                                i += 1;
                            } else {
                                break;
                            }
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            c if c.is_ascii_digit() || c == b'-' => {
                let start = i;
                i += 1;
                while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                    i += 1;
                }
                out.push(Tok::Num(text[start..i].to_owned()));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push(Tok::Ident(text[start..i].to_owned()));
            }
            _ => return Err(format!("unexpected character at {i}")),
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(w))
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self, depth: usize) -> Result<Expr, String> {
        let mut e = self.and(depth)?;
        while self.peek_word("or") {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and(depth)?));
        }
        Ok(e)
    }

    fn and(&mut self, depth: usize) -> Result<Expr, String> {
        let mut e = self.unary(depth)?;
        while self.peek_word("and") {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.unary(depth)?));
        }
        Ok(e)
    }

    fn unary(&mut self, depth: usize) -> Result<Expr, String> {
        if depth > MAX_DEPTH {
            return Err("the filter nests too deeply".to_owned());
        }
        if self.peek_word("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary(depth + 1)?)));
        }
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or(depth + 1)?;
                match self.next() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err("a missing )".to_owned()),
                }
            }
            Some(Tok::Ident(name)) => {
                let func = match name.to_ascii_lowercase().as_str() {
                    "startswith" => Some(Func::StartsWith),
                    "endswith" => Some(Func::EndsWith),
                    "contains" => Some(Func::Contains),
                    _ => None,
                };
                if let Some(f) = func {
                    let (
                        Some(Tok::LParen),
                        Some(Tok::Ident(p)),
                        Some(Tok::Comma),
                        Some(Tok::Str(s)),
                        Some(Tok::RParen),
                    ) = (
                        self.next(),
                        self.next(),
                        self.next(),
                        self.next(),
                        self.next(),
                    )
                    else {
                        return Err(format!("{name} takes (Property,'text')"));
                    };
                    return Ok(Expr::Func(f, p, s));
                }
                let op = match self.next() {
                    Some(Tok::Ident(op)) => match op.to_ascii_lowercase().as_str() {
                        "eq" => Op::Eq,
                        "ne" => Op::Ne,
                        "gt" => Op::Gt,
                        "ge" => Op::Ge,
                        "lt" => Op::Lt,
                        "le" => Op::Le,
                        other => return Err(format!("unknown operator {other}")),
                    },
                    other => return Err(format!("expected an operator, found {other:?}")),
                };
                let lit = match self.next() {
                    Some(Tok::Str(s)) => Value::String(s),
                    Some(Tok::Num(n)) => n
                        .parse::<i64>()
                        .map(Value::Int)
                        .or_else(|_| n.parse::<f64>().map(Value::Real))
                        .map_err(|_| format!("bad number {n}"))?,
                    Some(Tok::Ident(w)) if w == "true" => Value::Bool(true),
                    Some(Tok::Ident(w)) if w == "false" => Value::Bool(false),
                    Some(Tok::Ident(w)) if w == "null" => Value::Null,
                    other => return Err(format!("expected a literal, found {other:?}")),
                };
                Ok(Expr::Cmp(name, op, lit))
            }
            other => Err(format!("unexpected {other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_evaluate_like_the_provider() {
        let i = Instance::new("SMS_R_System")
            .with("Name", "MAC-000042")
            .with("ResourceId", 16777258)
            .with("Client", 1);
        for (f, want) in [
            ("Name eq 'mac-000042'", true),
            ("Name eq 'MAC-1'", false),
            ("ResourceId gt 16777216 and Client eq 1", true),
            (
                "startswith(Name,'MAC-') and not (ResourceId le 16777258)",
                false,
            ),
            ("contains(Name,'0004') or Name eq 'x'", true),
            ("Name eq 'O''Brien'", false),
        ] {
            assert_eq!(parse(f).unwrap().matches(&i), want, "{f}");
        }
        for bad in [
            "Name eq",
            "Name like 'x'",
            "(Name eq 'x'",
            "Name eq 'x",
            "Name eq 'x' ;",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse("Name eq 'O''Brien'").unwrap(),
            Expr::Cmp("Name".into(), Op::Eq, Value::String("O'Brien".into()))
        );
    }
}

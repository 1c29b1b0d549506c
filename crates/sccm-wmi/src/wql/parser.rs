//! A recursive-descent parser for the `SELECT` subset.
//!
//! ```text
//! query      = SELECT [DISTINCT] projection FROM class join* [WHERE condition]
//! projection = "*" | property ("," property)*
//! join       = [INNER | (LEFT | RIGHT | FULL) [OUTER]] JOIN class
//!              ON property "=" property
//! condition  = and (OR and)*
//! and        = unary (AND unary)*
//! unary      = NOT unary | "(" condition ")" | predicate
//! predicate  = operand ( op operand | [NOT] LIKE string | IS [NOT] NULL
//!                      | ISA string | [NOT] IN "(" (query | literal ("," literal)*) ")" )
//! operand    = literal | function "(" [operand ("," operand)*] ")" | property
//! property   = name ["." name]
//! literal    = string | integer | real | TRUE | FALSE | NULL
//! ```

use super::ast::{
    CompareOp, Condition, Function, InSet, Join, JoinKind, Literal, Operand, Projection,
    PropertyRef, Query,
};
use super::lexer::{Tok, Token, tokenize};
use super::{MAX_DEPTH, WqlError, WqlErrorKind, check_identifier};

/// Parses one WQL `SELECT` statement (see the [module docs](super) for
/// what is accepted and refused).
///
/// ```
/// use sccm_wmi::wql::{parse, WqlErrorKind};
///
/// let q = parse("select * from SMS_R_System where Name like '%Mac%'")?;
/// assert_eq!(q.to_string(), r#"SELECT * FROM SMS_R_System WHERE Name LIKE "%Mac%""#);
/// let e = parse("select * from SMS_R_System where Name = '' OR 1=1'").unwrap_err();
/// assert_eq!(e.kind, WqlErrorKind::UnterminatedString);
/// # Ok::<(), sccm_wmi::wql::WqlError>(())
/// ```
pub fn parse(text: &str) -> Result<Query, WqlError> {
    let tokens = tokenize(text)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        depth: 0,
    };
    let q = p.query()?;
    match p.peek() {
        Tok::End => Ok(q),
        _ => Err(p.error(WqlErrorKind::TrailingInput)),
    }
}

struct Parser<'a> {
    tokens: Vec<Token<'a>>,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> &Tok<'a> {
        // The token list always ends with `End`, and `pos` never passes it.
        &self.tokens[self.pos].kind
    }

    fn peek_at(&self, n: usize) -> &Tok<'a> {
        let i = (self.pos + n).min(self.tokens.len() - 1);
        &self.tokens[i].kind
    }

    fn offset(&self) -> usize {
        self.tokens[self.pos].offset
    }

    fn advance(&mut self) {
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
    }

    fn error(&self, kind: WqlErrorKind) -> WqlError {
        WqlError::new(kind, self.offset())
    }

    fn unexpected(&self) -> WqlError {
        match self.peek() {
            Tok::End => self.error(WqlErrorKind::UnexpectedEnd),
            _ => self.error(WqlErrorKind::UnexpectedToken),
        }
    }

    fn is_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Tok::Ident(w) if w.eq_ignore_ascii_case(kw))
    }

    fn keyword_at(&self, n: usize, kw: &str) -> bool {
        matches!(self.peek_at(n), Tok::Ident(w) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        let yes = self.is_keyword(kw);
        if yes {
            self.advance();
        }
        yes
    }

    fn expect_keyword(&mut self, kw: &str) -> Result<(), WqlError> {
        if self.eat_keyword(kw) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn expect(&mut self, tok: &Tok<'_>) -> Result<(), WqlError> {
        if self.peek() == tok {
            self.advance();
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn enter(&mut self) -> Result<(), WqlError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(WqlErrorKind::TooDeep));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    fn name(&mut self) -> Result<String, WqlError> {
        let at = self.offset();
        match self.peek() {
            Tok::Ident(w) => {
                let w = *w;
                check_identifier(w).map_err(|e| WqlError::new(e.kind, at + e.offset))?;
                self.advance();
                Ok(w.to_owned())
            }
            _ => Err(self.unexpected()),
        }
    }

    fn property(&mut self) -> Result<PropertyRef, WqlError> {
        let first = self.name()?;
        if *self.peek() == Tok::Dot {
            self.advance();
            let name = self.name()?;
            Ok(PropertyRef {
                class: Some(first),
                name,
            })
        } else {
            Ok(PropertyRef {
                class: None,
                name: first,
            })
        }
    }

    fn query(&mut self) -> Result<Query, WqlError> {
        self.expect_keyword("SELECT")?;
        let distinct = self.eat_keyword("DISTINCT");
        let projection = if *self.peek() == Tok::Star {
            self.advance();
            Projection::All
        } else {
            let mut list = vec![self.property()?];
            while *self.peek() == Tok::Comma {
                self.advance();
                list.push(self.property()?);
            }
            Projection::Properties(list)
        };
        self.expect_keyword("FROM")?;
        let class = self.name()?;
        let mut joins = Vec::new();
        while let Some(kind) = self.join_kind()? {
            let class = self.name()?;
            self.expect_keyword("ON")?;
            let left = self.property()?;
            self.expect(&Tok::Op(CompareOp::Eq))?;
            let right = self.property()?;
            joins.push(Join {
                kind,
                class,
                left,
                right,
            });
        }
        let condition = if self.eat_keyword("WHERE") {
            Some(self.condition()?)
        } else {
            None
        };
        Ok(Query {
            distinct,
            projection,
            class,
            joins,
            condition,
        })
    }

    /// Reads `[INNER | LEFT [OUTER] | …] JOIN` if it is there.
    fn join_kind(&mut self) -> Result<Option<JoinKind>, WqlError> {
        let kind = if self.eat_keyword("JOIN") {
            return Ok(Some(JoinKind::Inner));
        } else if self.eat_keyword("INNER") {
            JoinKind::Inner
        } else if self.eat_keyword("LEFT") {
            JoinKind::LeftOuter
        } else if self.eat_keyword("RIGHT") {
            JoinKind::RightOuter
        } else if self.eat_keyword("FULL") {
            JoinKind::FullOuter
        } else {
            return Ok(None);
        };
        if kind != JoinKind::Inner {
            self.eat_keyword("OUTER");
        }
        self.expect_keyword("JOIN")?;
        Ok(Some(kind))
    }

    fn condition(&mut self) -> Result<Condition, WqlError> {
        let first = self.and()?;
        if !self.is_keyword("OR") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_keyword("OR") {
            items.push(self.and()?);
        }
        Ok(Condition::Or(items))
    }

    fn and(&mut self) -> Result<Condition, WqlError> {
        let first = self.unary()?;
        if !self.is_keyword("AND") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.eat_keyword("AND") {
            items.push(self.unary()?);
        }
        Ok(Condition::And(items))
    }

    fn unary(&mut self) -> Result<Condition, WqlError> {
        if self.is_keyword("NOT") {
            self.enter()?;
            self.advance();
            let inner = self.unary()?;
            self.leave();
            return Ok(Condition::Not(Box::new(inner)));
        }
        if *self.peek() == Tok::LParen {
            self.enter()?;
            self.advance();
            let inner = self.condition()?;
            self.expect(&Tok::RParen)?;
            self.leave();
            return Ok(inner);
        }
        self.predicate()
    }

    fn predicate(&mut self) -> Result<Condition, WqlError> {
        let start = self.offset();
        let operand = self.operand()?;
        let no_property = WqlError::new(WqlErrorKind::NoProperty, start);
        if let Tok::Op(op) = *self.peek() {
            self.advance();
            let right = self.operand()?;
            if operand.is_literal() && right.is_literal() {
                return Err(no_property);
            }
            return Ok(Condition::Compare {
                left: operand,
                op,
                right,
            });
        }
        if operand.is_literal() {
            return Err(no_property);
        }
        let negated =
            self.is_keyword("NOT") && (self.keyword_at(1, "LIKE") || self.keyword_at(1, "IN"));
        if negated {
            self.advance();
        }
        if self.eat_keyword("LIKE") {
            let pattern = self.string()?;
            return Ok(Condition::Like {
                operand,
                pattern,
                negated,
            });
        }
        if self.eat_keyword("IN") {
            let set = self.in_set()?;
            return Ok(Condition::In {
                operand,
                negated,
                set,
            });
        }
        if self.eat_keyword("IS") {
            let negated = self.eat_keyword("NOT");
            self.expect_keyword("NULL")?;
            return Ok(Condition::IsNull { operand, negated });
        }
        if self.eat_keyword("ISA") {
            let class = self.string()?;
            return Ok(Condition::Isa { operand, class });
        }
        Err(self.unexpected())
    }

    fn in_set(&mut self) -> Result<InSet, WqlError> {
        self.expect(&Tok::LParen)?;
        if self.is_keyword("SELECT") {
            self.enter()?;
            let q = self.query()?;
            self.leave();
            self.expect(&Tok::RParen)?;
            return Ok(InSet::Select(Box::new(q)));
        }
        if *self.peek() == Tok::RParen {
            return Err(self.error(WqlErrorKind::EmptyList));
        }
        let mut list = vec![self.literal()?];
        while *self.peek() == Tok::Comma {
            self.advance();
            list.push(self.literal()?);
        }
        self.expect(&Tok::RParen)?;
        Ok(InSet::List(list))
    }

    fn string(&mut self) -> Result<String, WqlError> {
        if let Tok::Str(s) = self.peek() {
            let s = s.clone();
            self.advance();
            Ok(s)
        } else {
            Err(self.unexpected())
        }
    }

    fn literal(&mut self) -> Result<Literal, WqlError> {
        match self.operand()? {
            Operand::Literal(l) => Ok(l),
            _ => Err(WqlError::new(
                WqlErrorKind::UnexpectedToken,
                self.tokens[self.pos.saturating_sub(1)].offset,
            )),
        }
    }

    fn operand(&mut self) -> Result<Operand, WqlError> {
        let lit = match self.peek() {
            Tok::Int(i) => Some(Literal::Int(*i)),
            Tok::Real(f) => Some(Literal::Real(*f)),
            Tok::Str(_) => None,
            Tok::Ident(w) if w.eq_ignore_ascii_case("NULL") => Some(Literal::Null),
            Tok::Ident(w) if w.eq_ignore_ascii_case("TRUE") => Some(Literal::Bool(true)),
            Tok::Ident(w) if w.eq_ignore_ascii_case("FALSE") => Some(Literal::Bool(false)),
            Tok::Ident(_) => return self.property_or_call(),
            _ => return Err(self.unexpected()),
        };
        match lit {
            Some(l) => {
                self.advance();
                Ok(Operand::Literal(l))
            }
            None => Ok(Operand::Literal(Literal::String(self.string()?))),
        }
    }

    fn property_or_call(&mut self) -> Result<Operand, WqlError> {
        let Tok::Ident(word) = *self.peek() else {
            return Err(self.unexpected());
        };
        if *self.peek_at(1) != Tok::LParen {
            return self.property().map(Operand::Property);
        }
        let at = self.offset();
        let func =
            Function::from_name(word).ok_or(WqlError::new(WqlErrorKind::UnknownFunction, at))?;
        self.enter()?;
        self.advance();
        self.advance();
        let mut args = Vec::new();
        if *self.peek() != Tok::RParen {
            args.push(self.operand()?);
            while *self.peek() == Tok::Comma && args.len() < func.arity() {
                self.advance();
                args.push(self.operand()?);
            }
        }
        self.expect(&Tok::RParen)?;
        self.leave();
        if args.len() != func.arity() {
            return Err(WqlError::new(WqlErrorKind::UnknownFunction, at));
        }
        Ok(Operand::Call(func, args))
    }
}

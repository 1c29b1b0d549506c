//! The OS-version checks in a distribution's JavaScript.
//!
//! Installer's JavaScript API (Apple, *Installer JS*, `System.compareVersions`)
//! compares two dotted version strings and returns -1, 0 or 1. Software
//! updates use it in their `InstallationCheck` and `VolumeCheck` functions in
//! one of a few shapes:
//!
//! ```text
//! if (system.compareVersions(system.version.ProductVersion, '11.0') < 0 ||
//!     system.compareVersions(system.version.ProductVersion, '12.0') >= 0) {
//!     my.result.type = 'Fatal';
//!     return false;
//! }
//! return system.compareVersions(my.target.systemVersion.ProductVersion, '10.15') >= 0;
//! ```
//!
//! This module finds every such comparison of a macOS version with a
//! literal and, where the shape makes it clear, what it means for the
//! installation: a comparison that is one `||` branch of an `if` whose block
//! returns `false` must be false for the installation to go ahead; one that
//! is the whole of a `return` (or the negated condition of an `if` whose
//! block returns `false`) must be true. Everything else is reported as
//! written, without a meaning. The script is never run.

/// Which version a check compares.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum VersionSubject {
    /// `system.version.ProductVersion`: the running macOS.
    RunningSystem,
    /// `my.target.systemVersion.ProductVersion`: the macOS on the target
    /// volume.
    TargetVolume,
}

/// A comparison operator, read as "the subject's version *op* the literal".
#[derive(Clone, Copy, Debug, Eq, Hash, PartialEq)]
pub enum CompareOp {
    /// Older than.
    Lt,
    /// Older than or the same as.
    Le,
    /// The same as.
    Eq,
    /// Not the same as.
    Ne,
    /// The same as or newer than.
    Ge,
    /// Newer than.
    Gt,
}

impl CompareOp {
    /// The operator that holds exactly when `self` does not.
    pub fn negate(self) -> Self {
        match self {
            Self::Lt => Self::Ge,
            Self::Le => Self::Gt,
            Self::Eq => Self::Ne,
            Self::Ne => Self::Eq,
            Self::Ge => Self::Lt,
            Self::Gt => Self::Le,
        }
    }

    /// The operator's JavaScript spelling (`<`, `<=`, `==`, `!=`, `>=`, `>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Eq => "==",
            Self::Ne => "!=",
            Self::Ge => ">=",
            Self::Gt => ">",
        }
    }

    /// The operator whose results of `compareVersions` (-1, 0, 1) are
    /// exactly those in `results` (a bit set: 1 for -1, 2 for 0, 4 for 1).
    fn from_results(results: u8) -> Option<Self> {
        match results {
            0b001 => Some(Self::Lt),
            0b011 => Some(Self::Le),
            0b010 => Some(Self::Eq),
            0b101 => Some(Self::Ne),
            0b110 => Some(Self::Ge),
            0b100 => Some(Self::Gt),
            _ => None,
        }
    }
}

/// What a [`VersionCheck`] means for the installation.
#[derive(Clone, Copy, Debug, Eq, PartialEq)]
pub enum CheckMeaning {
    /// The installation requires the subject's version to satisfy the
    /// check's operator and version (already negated where the script
    /// rejects on the comparison).
    Requires,
    /// The script's structure around the comparison is not one this module
    /// reads; the operator is the comparison as written.
    AsWritten,
}

/// One `system.compareVersions(…ProductVersion, 'X.Y') <op> N` found in a
/// script.
#[derive(Clone, Debug, Eq, PartialEq)]
pub struct VersionCheck {
    /// The function it is in, if any.
    pub function: Option<String>,
    /// The version compared.
    pub subject: VersionSubject,
    /// The operator (see [`VersionCheck::meaning`]).
    pub op: CompareOp,
    /// The literal version, as written.
    pub version: String,
    /// Whether `op` is a requirement or just what the script says.
    pub meaning: CheckMeaning,
}

/// Finds the version checks in `script`.
pub(crate) fn version_checks(script: &str) -> Vec<VersionCheck> {
    let code = Code::new(script);
    let functions = code.functions();
    let mut out = Vec::new();
    let needle = "compareVersions";
    let mut from = 0;
    while let Some(i) = script[from..].find(needle) {
        let at = from + i;
        from = at + needle.len();
        if !code.is_code(at) {
            continue;
        }
        let Some(call) = read_comparison(script, at) else {
            continue;
        };
        let function = functions
            .iter()
            .filter(|f| f.body.0 <= at && at < f.body.1)
            .min_by_key(|f| f.body.1 - f.body.0)
            .map(|f| f.name.clone());
        let (op, meaning) = match code.meaning(call.start, call.end) {
            Some(Context::RejectsWhenTrue) => (call.op.negate(), CheckMeaning::Requires),
            Some(Context::RequiresTrue) => (call.op, CheckMeaning::Requires),
            None => (call.op, CheckMeaning::AsWritten),
        };
        out.push(VersionCheck {
            function,
            subject: call.subject,
            op,
            version: call.version,
            meaning,
        });
        from = call.end.max(from);
    }
    out
}

/// A comparison found in the script: where it spans (from the start of
/// `system.compareVersions` to the end of the number compared with).
struct Comparison {
    start: usize,
    end: usize,
    subject: VersionSubject,
    op: CompareOp,
    version: String,
}

/// Reads `[system.]compareVersions(SUBJECT, 'V') OP N` with
/// `compareVersions` at `at`.
fn read_comparison(s: &str, at: usize) -> Option<Comparison> {
    let start = if s[..at].ends_with("system.") {
        at - "system.".len()
    } else {
        return None;
    };
    let mut c = Cursor {
        s,
        pos: at + "compareVersions".len(),
    };
    c.ws();
    c.eat("(")?;
    c.ws();
    let subject = if c.eat("system.version.ProductVersion").is_some() {
        VersionSubject::RunningSystem
    } else if c.eat("my.target.systemVersion.ProductVersion").is_some() {
        VersionSubject::TargetVolume
    } else {
        return None;
    };
    c.ws();
    c.eat(",")?;
    c.ws();
    let version = c.literal()?;
    c.ws();
    c.eat(")")?;
    c.ws();
    let op = c.operator()?;
    c.ws();
    let n = c.small_integer()?;
    // Which results of compareVersions (-1, 0, 1) make `result op n` true.
    let mut results = 0u8;
    for (bit, r) in [(1u8, -1i32), (2, 0), (4, 1)] {
        let holds = match op {
            "<" => r < n,
            "<=" => r <= n,
            ">" => r > n,
            ">=" => r >= n,
            "==" | "===" => r == n,
            _ => r != n,
        };
        if holds {
            results |= bit;
        }
    }
    Some(Comparison {
        start,
        end: c.pos,
        subject,
        op: CompareOp::from_results(results)?,
        version,
    })
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }

    fn ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, token: &str) -> Option<()> {
        self.rest()
            .starts_with(token)
            .then(|| self.pos += token.len())
    }

    /// A string literal in single or double quotes, without escapes.
    fn literal(&mut self) -> Option<String> {
        let rest = self.rest();
        let quote = rest.chars().next().filter(|&q| q == '\'' || q == '"')?;
        let body = &rest[1..];
        let end = body.find(quote)?;
        let value = &body[..end];
        if value.contains(['\\', '\n']) || value.is_empty() {
            return None;
        }
        self.pos += 1 + end + 1;
        Some(value.to_owned())
    }

    fn operator(&mut self) -> Option<&'static str> {
        ["===", "!==", "==", "!=", "<=", ">=", "<", ">"]
            .into_iter()
            .find(|op| self.eat(op).is_some())
    }

    fn small_integer(&mut self) -> Option<i32> {
        let n = if self.eat("-1").is_some() {
            -1
        } else if self.eat("0").is_some() {
            0
        } else if self.eat("1").is_some() {
            1
        } else {
            return None;
        };
        // `10`, `0.5`, `1e3`, `0x1` are other numbers.
        if self
            .rest()
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            return None;
        }
        Some(n)
    }
}

/// How the code around a comparison uses it.
enum Context {
    /// `if (… || CMP || …) { … return false; … }`
    RejectsWhenTrue,
    /// `return CMP;` or `if (!(CMP)) { … return false; … }`
    RequiresTrue,
}

/// A function declaration: its name and the byte range of its body.
struct Function {
    name: String,
    body: (usize, usize),
}

/// The script with string literals and comments told apart from code, so
/// that brackets and keywords are only looked for in code.
struct Code<'a> {
    s: &'a str,
    /// For each byte: whether it is code (outside literals and comments).
    code: Vec<bool>,
}

impl<'a> Code<'a> {
    fn new(s: &'a str) -> Self {
        let b = s.as_bytes();
        let mut code = vec![true; b.len()];
        let mut i = 0;
        while i < b.len() {
            let end = match (b[i], b.get(i + 1)) {
                (b'/', Some(b'/')) => b[i..]
                    .iter()
                    .position(|&c| c == b'\n')
                    .map_or(b.len(), |n| i + n),
                (b'/', Some(b'*')) => b[i + 2..]
                    .windows(2)
                    .position(|w| w == b"*/")
                    .map_or(b.len(), |n| i + 2 + n + 2),
                (q @ (b'\'' | b'"' | b'`'), _) => {
                    let mut j = i + 1;
                    while j < b.len() && b[j] != q {
                        j += if b[j] == b'\\' { 2 } else { 1 };
                    }
                    (j + 1).min(b.len())
                }
                _ => {
                    i += 1;
                    continue;
                }
            };
            for c in &mut code[i..end] {
                *c = false;
            }
            i = end.max(i + 1);
        }
        Self { s, code }
    }

    fn is_code(&self, i: usize) -> bool {
        self.code.get(i).copied().unwrap_or(false)
    }

    fn byte(&self, i: usize) -> Option<u8> {
        self.is_code(i).then(|| self.s.as_bytes()[i])
    }

    /// The index of the bracket closing the one at `open`.
    fn matching(&self, open: usize) -> Option<usize> {
        let (o, c) = match self.byte(open)? {
            b'(' => (b'(', b')'),
            b'{' => (b'{', b'}'),
            _ => return None,
        };
        let mut depth = 0usize;
        for i in open..self.s.len() {
            match self.byte(i) {
                Some(x) if x == o => depth += 1,
                Some(x) if x == c => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// The index of the unclosed `(` nearest before `at`.
    fn enclosing_paren(&self, at: usize) -> Option<usize> {
        let mut depth = 0usize;
        for i in (0..at).rev() {
            match self.byte(i) {
                Some(b')') => depth += 1,
                Some(b'(') if depth == 0 => return Some(i),
                Some(b'(') => depth -= 1,
                Some(b'{' | b'}' | b';') if depth == 0 => return None,
                _ => {}
            }
        }
        None
    }

    /// The code before `at`, without trailing white space.
    fn before(&self, at: usize) -> &str {
        self.s[..at].trim_end()
    }

    fn ends_with_keyword(&self, at: usize, keyword: &str) -> bool {
        let before = self.before(at);
        before.ends_with(keyword)
            && !before[..before.len() - keyword.len()]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == '.')
    }

    /// Every `function NAME(…) { … }`.
    fn functions(&self) -> Vec<Function> {
        let mut out = Vec::new();
        let mut from = 0;
        while let Some(i) = self.s[from..].find("function") {
            let at = from + i;
            from = at + "function".len();
            if !self.is_code(at) || !self.ends_with_keyword(from, "function") {
                continue;
            }
            let mut c = Cursor {
                s: self.s,
                pos: from,
            };
            c.ws();
            let name_len = c
                .rest()
                .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '$'))
                .unwrap_or(c.rest().len());
            let name = c.rest()[..name_len].to_owned();
            c.pos += name_len;
            c.ws();
            if c.rest().starts_with('(') {
                let Some(close) = self.matching(c.pos) else {
                    continue;
                };
                c.pos = close + 1;
                c.ws();
                if c.rest().starts_with('{')
                    && !name.is_empty()
                    && let Some(end) = self.matching(c.pos)
                {
                    out.push(Function {
                        name,
                        body: (c.pos, end + 1),
                    });
                }
            }
        }
        out
    }

    /// The block or statement after `at`, as text.
    fn statement_after(&self, at: usize) -> Option<&str> {
        let rest = &self.s[at..];
        let start = at + (rest.len() - rest.trim_start().len());
        if self.byte(start) == Some(b'{') {
            let end = self.matching(start)?;
            Some(&self.s[start..=end])
        } else {
            let end = (start..self.s.len()).find(|&i| self.byte(i) == Some(b';'))?;
            Some(&self.s[start..=end])
        }
    }

    /// Whether `text` (code between `from` and `to`) splits at top level on
    /// `&&`, which would make a branch's meaning depend on the others.
    fn has_top_level_and(&self, from: usize, to: usize) -> bool {
        let mut depth = 0usize;
        let b = self.s.as_bytes();
        for i in from..to {
            match self.byte(i) {
                Some(b'(') => depth += 1,
                Some(b')') => depth = depth.saturating_sub(1),
                Some(b'&') if depth == 0 && b.get(i + 1) == Some(&b'&') => return true,
                Some(b'?') if depth == 0 => return true,
                _ => {}
            }
        }
        false
    }

    /// Whether the comparison spanning `start..end` is a whole `||` branch
    /// of the condition between `open` and `close` (exclusive).
    fn is_whole_branch(&self, open: usize, close: usize, start: usize, end: usize) -> bool {
        let left = self.s[open + 1..start].trim_end();
        let right = self.s[end..close].trim_start();
        (left.is_empty() || left.ends_with("||")) && (right.is_empty() || right.starts_with("||"))
    }

    fn meaning(&self, start: usize, end: usize) -> Option<Context> {
        // `return CMP;`
        if self.ends_with_keyword(start, "return") && self.s[end..].trim_start().starts_with(';') {
            return Some(Context::RequiresTrue);
        }
        let open = self.enclosing_paren(start)?;
        let close = self.matching(open)?;
        if self.ends_with_keyword(open, "if") {
            if self.has_top_level_and(open + 1, close)
                || !self.is_whole_branch(open, close, start, end)
            {
                return None;
            }
            return self.rejects(close + 1).then_some(Context::RejectsWhenTrue);
        }
        // `if (!(CMP))`
        if self.s[open + 1..start].trim().is_empty() && self.s[end..close].trim().is_empty() {
            let before = self.before(open);
            if let Some(bang) = before.strip_suffix('!') {
                let outer = bang.trim_end().len().checked_sub(1)?;
                if self.byte(outer) == Some(b'(') && self.ends_with_keyword(outer, "if") {
                    let outer_close = self.matching(outer)?;
                    if self.s[close + 1..outer_close].trim().is_empty() {
                        return self
                            .rejects(outer_close + 1)
                            .then_some(Context::RequiresTrue);
                    }
                }
            }
        }
        None
    }

    /// Whether the statement after `at` returns `false`.
    fn rejects(&self, at: usize) -> bool {
        self.statement_after(at).is_some_and(|body| {
            let squeezed: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
            squeezed.contains("return false")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checks(
        script: &str,
    ) -> Vec<(
        Option<String>,
        VersionSubject,
        &'static str,
        String,
        CheckMeaning,
    )> {
        version_checks(script)
            .into_iter()
            .map(|c| (c.function, c.subject, c.op.as_str(), c.version, c.meaning))
            .collect()
    }

    use CheckMeaning::{AsWritten, Requires};
    use VersionSubject::{RunningSystem, TargetVolume};

    #[test]
    fn rejecting_if_with_or() {
        let s = "function InstallationCheck(prefix) {\n\
                 \tif (system.compareVersions(system.version.ProductVersion, '11.0') < 0 || \
                 system.compareVersions(system.version.ProductVersion, \"12.0\") >= 0) {\n\
                 \t\tmy.result.message = system.localizedString('ERROR'); // say why\n\
                 \t\tmy.result.type = 'Fatal';\n\t\treturn false;\n\t}\n\treturn true;\n}";
        let f = Some("InstallationCheck".to_owned());
        assert_eq!(
            checks(s),
            [
                (f.clone(), RunningSystem, ">=", "11.0".into(), Requires),
                (f, RunningSystem, "<", "12.0".into(), Requires),
            ]
        );
    }

    #[test]
    fn return_and_negation() {
        let s = "function VolumeCheck(prefix) {\n\
                 if (!(system.compareVersions(my.target.systemVersion.ProductVersion, '10.15') >= 0)) return false;\n\
                 return system.compareVersions(system.version.ProductVersion, '14.0') == -1;\n}\n\
                 function other() { if (system.compareVersions(system.version.ProductVersion, '13.0') > 0) { return true; } }";
        assert_eq!(
            checks(s),
            [
                (
                    Some("VolumeCheck".into()),
                    TargetVolume,
                    ">=",
                    "10.15".into(),
                    Requires
                ),
                (
                    Some("VolumeCheck".into()),
                    RunningSystem,
                    "<",
                    "14.0".into(),
                    Requires
                ),
                (
                    Some("other".into()),
                    RunningSystem,
                    ">",
                    "13.0".into(),
                    AsWritten
                ),
            ]
        );
    }

    #[test]
    fn unclear_shapes_are_as_written() {
        let s = "if (system.compareVersions(system.version.ProductVersion, '11.0') < 0 && x) { return false; }\n\
                 var ok = system.compareVersions(system.version.ProductVersion, '12.0') != 1;\n\
                 if ((system.compareVersions(system.version.ProductVersion, '13.0') < 0) || y) { return false; }";
        assert_eq!(
            checks(s),
            [
                (None, RunningSystem, "<", "11.0".into(), AsWritten),
                (None, RunningSystem, "<=", "12.0".into(), AsWritten),
                (None, RunningSystem, "<", "13.0".into(), AsWritten),
            ]
        );
    }

    #[test]
    fn not_checks() {
        let s = "// system.compareVersions(system.version.ProductVersion, '11.0') < 0\n\
                 var s = \"system.compareVersions(system.version.ProductVersion, '11.0') < 0\";\n\
                 system.compareVersions(system.version.ProductVersion, minVersion) < 0;\n\
                 system.compareVersions(system.version.ProductBuildVersion, '20A') < 0;\n\
                 system.compareVersions(system.version.ProductVersion, '11.0') < 10;\n\
                 compareVersions(system.version.ProductVersion, '11.0') < 0;\n\
                 system.compareVersions(system.version.ProductVersion, '11.0') > 1;\n\
                 system.compareVersions(system.version.ProductVersion, '11.0";
        assert!(checks(s).is_empty(), "{:?}", checks(s));
    }

    #[test]
    fn never_panics_on_fragments() {
        let s = "function f() { if (!(system.compareVersions(system.version.ProductVersion, '1') >= 0)) { return false; } }";
        for i in 0..=s.len() {
            for j in i..=s.len() {
                let _ = version_checks(&s[i..j]);
            }
        }
    }
}

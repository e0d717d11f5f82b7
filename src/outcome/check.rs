//! Rubric check expressions: parsing, validating and evaluating small boolean
//! expressions such as `landed and touchdown_speed_mps <= 2` over an environment's
//! result facts, and turning the verdict into plain-language feedback
//! ([`CheckExpr::what_must_change`], [`CheckExpr::explain`]).
//!
//! This module owns the expression language only. It does not know which facts an
//! environment publishes (callers compare [`CheckExpr::facts`] with that list at load
//! time), how rubric files are read, or how verdicts are scored and stored.
//!
//! Grammar, lowest precedence first: `or` (`||`); `and` (`&&`); `not` (`!`);
//! comparisons `< <= > >= == !=` (non-associative); `+ -`; `* /`; unary `-`;
//! parentheses. Values are numbers (compared as `f64`), strings and booleans.
//! `(`, `not` and `-` nest at most [`MAX_DEPTH`] levels, so no input overflows the stack.

use std::collections::BTreeMap;
use std::mem::discriminant;

/// The result facts an expression is evaluated over, by name.
pub type Facts = BTreeMap<String, serde_json::Value>;

/// How many levels of `(`, `not` and unary `-` may nest before parsing fails.
pub const MAX_DEPTH: usize = 64;

/// A problem in the source text of a check expression.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct CheckParseError {
    pub message: String,
    /// byte offset in the source where the problem is
    pub offset: usize,
}

/// Why a well-formed expression could not produce a verdict.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CheckEvalError {
    #[error("fact `{0}` is missing")]
    MissingFact(String),
    #[error("{0}")]
    Type(String),
}

/// A parsed check expression: its source text and syntax tree.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckExpr {
    source: String,
    root: Node,
}

/// A syntax tree node and the byte span of its source text.
#[derive(Debug, Clone, PartialEq)]
struct Node {
    kind: Kind,
    start: usize,
    end: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Val(Value),
    Fact(String),
    Neg(Box<Node>),
    Not(Box<Node>),
    /// A comparison operator from [`COMPARISONS`] and its operands.
    Cmp(&'static str, Box<Node>, Box<Node>),
    /// A left-associative chain: the first operand, then (operator, operand) pairs.
    /// Operators are all `and`, all `or`, or a mix of `+ -` or of `* /`. Chains are
    /// flat, so the tree is only as deep as the nesting of `(`, `not` and `-`.
    Chain(Box<Node>, Vec<(&'static str, Node)>),
}

#[derive(Debug, Clone, PartialEq)]
enum Value {
    Num(f64),
    Str(String),
    Bool(bool),
}

/// Each comparison operator, the operator that holds exactly when it does not, the
/// operator for the same comparison with operands swapped, and what it asks for.
const COMPARISONS: [(&str, &str, &str, &str); 6] = [
    ("<", ">=", ">", "be less than"),
    ("<=", ">", ">=", "be at most"),
    (">", "<=", "<", "be greater than"),
    (">=", "<", "<=", "be at least"),
    ("==", "!=", "==", "equal"),
    ("!=", "==", "!=", "not equal"),
];

fn comparison(op: &str) -> (&'static str, &'static str, &'static str, &'static str) {
    let found = COMPARISONS.iter().find(|c| c.0 == op).copied();
    found.unwrap_or(("==", "!=", "==", "equal"))
}

fn node(kind: Kind, start: usize, end: usize) -> Node {
    Node { kind, start, end }
}

fn perr(message: impl Into<String>, offset: usize) -> CheckParseError {
    let message = message.into();
    CheckParseError { message, offset }
}

fn type_err<T>(message: String) -> Result<T, CheckEvalError> {
    Err(CheckEvalError::Type(message))
}

/// Formats `n` with at most `decimals` decimals, trailing zeros trimmed.
fn fmt_num(n: f64, decimals: usize) -> String {
    let mut s = format!("{n:.decimals$}");
    if n.is_finite() && s.contains('.') {
        s.truncate(s.trim_end_matches('0').trim_end_matches('.').len());
    }
    if s == "-0" {
        s = "0".to_string();
    }
    s
}

fn fmt_value(v: &Value) -> String {
    match v {
        Value::Num(n) => fmt_num(*n, 2),
        Value::Str(s) => format!("{s:?}"),
        Value::Bool(b) => b.to_string(),
    }
}

/// Formats two values, adding decimals (up to 6) where 2 would make different numbers
/// look equal, so "at most 2 (it was 2.004)" never reads "at most 2 (it was 2)".
fn fmt_pair(a: &Value, b: &Value) -> (String, String) {
    if let (Value::Num(x), Value::Num(y)) = (a, b) {
        if let Some(d) = (2..=6).find(|d| fmt_num(*x, *d) != fmt_num(*y, *d)) {
            return (fmt_num(*x, d), fmt_num(*y, d));
        }
    }
    (fmt_value(a), fmt_value(b))
}

fn describe(v: &Value) -> String {
    let kind = match v {
        Value::Num(_) => "number",
        Value::Str(_) => "string",
        Value::Bool(_) => "boolean",
    };
    format!("the {kind} {}", fmt_value(v))
}

fn fact_value(name: &str, facts: &Facts) -> Result<Value, CheckEvalError> {
    use serde_json::Value as J;
    let kind = match facts.get(name) {
        None => return Err(CheckEvalError::MissingFact(name.to_string())),
        Some(J::Bool(b)) => return Ok(Value::Bool(*b)),
        Some(J::String(s)) => return Ok(Value::Str(s.clone())),
        Some(J::Number(n)) => match n.as_f64() {
            Some(f) => return Ok(Value::Num(f)),
            None => "a number too large for a float",
        },
        Some(J::Null) => "null",
        Some(J::Array(_)) => "an array",
        Some(J::Object(_)) => "an object",
    };
    let only = "checks can only use numbers, strings and booleans";
    type_err(format!("fact `{name}` is {kind}; {only}"))
}

/// The operands of an `and` (`Some(false)`) or `or` (`Some(true)`) chain.
fn logic(node: &Node) -> Option<(bool, Vec<&Node>)> {
    let Kind::Chain(first, rest) = &node.kind else {
        return None;
    };
    let or = match rest.first()?.0 {
        "and" => false,
        "or" => true,
        _ => return None,
    };
    Some((or, operands(first, rest).collect()))
}

fn operands<'a>(first: &'a Node, rest: &'a [(&str, Node)]) -> impl Iterator<Item = &'a Node> {
    std::iter::once(first).chain(rest.iter().map(|(_, n)| n))
}

/// Visits `node` and its descendants in source order.
fn walk<'a>(node: &'a Node, f: &mut dyn FnMut(&'a Node)) {
    f(node);
    match &node.kind {
        Kind::Val(_) | Kind::Fact(_) => {}
        Kind::Neg(inner) | Kind::Not(inner) => walk(inner, f),
        Kind::Cmp(_, lhs, rhs) => [lhs, rhs].into_iter().for_each(|n| walk(n, f)),
        Kind::Chain(first, rest) => operands(first, rest).for_each(|n| walk(n, f)),
    }
}

fn has_facts(node: &Node) -> bool {
    let mut found = false;
    walk(node, &mut |n| found |= matches!(n.kind, Kind::Fact(_)));
    found
}

// ------------------------------------------------------------------------- lexing

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Val(Value),
    Ident(String),
    /// An operator, keyword or parenthesis; `&&`, `||`, `!` become `and`, `or`, `not`.
    Op(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    start: usize,
    end: usize,
}

/// Operator spellings, each before any spelling that is a prefix of it.
const OPERATORS: &str = "<= >= == != && || < > ! + - * / ( )";

/// Tokenizes `src`; the last token is always [`Tok::Eof`].
fn lex(src: &str) -> Result<Vec<Token>, CheckParseError> {
    let bytes = src.as_bytes();
    let is_ident = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    let is_digit = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_digit);
    let digits_end = |j: usize| (j..).find(|&k| !is_digit(k)).unwrap_or(j);
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        let rest = src.get(i..).unwrap_or("");
        let (tok, len) = if c.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if c.is_ascii_digit() {
            let mut j = digits_end(i);
            if bytes.get(j) == Some(&b'.') {
                if !is_digit(j + 1) {
                    return Err(perr("expected a digit after `.` in a number", j));
                }
                j = digits_end(j + 1);
            }
            let text = src.get(i..j).unwrap_or("");
            match text.parse::<f64>() {
                Ok(n) if n.is_finite() => (Tok::Val(Value::Num(n)), j - i),
                _ => return Err(perr(format!("number `{text}` is too large"), i)),
            }
        } else if c.is_ascii_alphabetic() || c == b'_' {
            // Dots join name segments: `site.slope`.
            let mut j = i + 1;
            while bytes.get(j).is_some_and(is_ident)
                || (bytes.get(j) == Some(&b'.') && bytes.get(j + 1).is_some_and(is_ident))
            {
                j += 1;
            }
            let tok = match src.get(i..j).unwrap_or("") {
                "and" => Tok::Op("and"),
                "or" => Tok::Op("or"),
                "not" => Tok::Op("not"),
                "true" => Tok::Val(Value::Bool(true)),
                "false" => Tok::Val(Value::Bool(false)),
                word => Tok::Ident(word.to_string()),
            };
            (tok, j - i)
        } else if c == b'"' {
            lex_string(src, i)?
        } else if let Some(op) = OPERATORS.split_whitespace().find(|op| rest.starts_with(op)) {
            let canonical = match op {
                "&&" => "and",
                "||" => "or",
                "!" => "not",
                op => op,
            };
            (Tok::Op(canonical), op.len())
        } else {
            let ch = rest.chars().next().unwrap_or('?');
            let hint = match ch {
                '=' => " (did you mean `==`?)",
                '&' => " (did you mean `&&` or `and`?)",
                '|' => " (did you mean `||` or `or`?)",
                _ => "",
            };
            let msg = format!("unknown character `{}`{hint}", ch.escape_debug());
            return Err(perr(msg, i));
        };
        toks.push(Token {
            tok,
            start: i,
            end: i + len,
        });
        i += len;
    }
    let end = src.len();
    toks.push(Token {
        tok: Tok::Eof,
        start: end,
        end,
    });
    Ok(toks)
}

/// Lexes the string literal whose opening `"` is at `start`: the token and its length.
fn lex_string(src: &str, start: usize) -> Result<(Tok, usize), CheckParseError> {
    let mut value = String::new();
    let mut chars = src.get(start + 1..).unwrap_or("").char_indices();
    while let Some((j, ch)) = chars.next() {
        match ch {
            '"' => return Ok((Tok::Val(Value::Str(value)), j + 2)),
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\'))) => value.push(e),
                Some((_, e)) => {
                    let only = "only `\\\"` and `\\\\` are allowed";
                    let msg = format!("unknown escape `\\{e}` in string; {only}");
                    return Err(perr(msg, start + 1 + j));
                }
                None => break,
            },
            ch => value.push(ch),
        }
    }
    Err(perr("unterminated string", start))
}

// ------------------------------------------------------------------------ parsing

type Parsed = Result<Node, CheckParseError>;

/// Recursive descent over the tokens; every token consumed is a non-`Eof` token.
struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

static EOF: Token = Token {
    tok: Tok::Eof,
    start: 0,
    end: 0,
};

impl Parser<'_> {
    fn peek(&self) -> &Token {
        self.toks.get(self.pos).unwrap_or(&EOF)
    }

    fn prev(&self) -> Option<&Token> {
        self.toks.get(self.pos.checked_sub(1)?)
    }

    /// A node spanning from `start` to the end of the last token consumed.
    fn node_from(&self, start: usize, kind: Kind) -> Node {
        node(kind, start, self.prev().map_or(start, |t| t.end))
    }

    fn is_op(&self, op: &str) -> bool {
        matches!(self.peek().tok, Tok::Op(o) if o == op)
    }

    /// How a token is named in messages.
    fn name(&self, t: &Token) -> String {
        match t.tok {
            Tok::Eof => "the end of the expression".to_string(),
            _ => format!("`{}`", self.src.get(t.start..t.end).unwrap_or("")),
        }
    }

    /// Consumes a nesting token (`(`, `not`, `-`), failing beyond [`MAX_DEPTH`] levels.
    /// The caller decrements `depth` when it is done with the nested part.
    fn enter(&mut self) -> Result<usize, CheckParseError> {
        let start = self.peek().start;
        self.pos += 1;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let what = "levels of `(`, `not` or `-`";
            let msg = format!("expression is nested too deeply (more than {MAX_DEPTH} {what})");
            return Err(perr(msg, start));
        }
        Ok(start)
    }

    /// A left-associative chain of `ops` between operands parsed by `operand`.
    fn chain(&mut self, ops: &[&'static str], operand: fn(&mut Self) -> Parsed) -> Parsed {
        let start = self.peek().start;
        let first = operand(self)?;
        let mut rest = Vec::new();
        while let Some(&op) = ops.iter().find(|op| self.is_op(op)) {
            self.pos += 1;
            rest.push((op, operand(self)?));
        }
        if rest.is_empty() {
            return Ok(first);
        }
        Ok(self.node_from(start, Kind::Chain(Box::new(first), rest)))
    }

    /// `op operand` (for `not` and unary `-`), or just `operand`.
    fn prefix(
        &mut self,
        op: &str,
        wrap: fn(Box<Node>) -> Kind,
        operand: fn(&mut Self) -> Parsed,
    ) -> Parsed {
        if !self.is_op(op) {
            return operand(self);
        }
        let start = self.enter()?;
        let inner = self.prefix(op, wrap, operand)?;
        self.depth -= 1;
        Ok(self.node_from(start, wrap(Box::new(inner))))
    }

    fn or(&mut self) -> Parsed {
        self.chain(&["or"], Self::and)
    }

    fn and(&mut self) -> Parsed {
        self.chain(&["and"], |p| p.prefix("not", Kind::Not, Self::comparison))
    }

    fn comparison(&mut self) -> Parsed {
        let start = self.peek().start;
        let lhs = self.sum()?;
        let is_comparison = |p: &Self| match p.peek().tok {
            Tok::Op(op) => COMPARISONS.iter().find(|c| c.0 == op).map(|c| c.0),
            _ => None,
        };
        let Some(op) = is_comparison(self) else {
            return Ok(lhs);
        };
        self.pos += 1;
        let rhs = self.sum()?;
        if is_comparison(self).is_some() {
            let msg = "comparison operators cannot be chained; \
                       write `a < b and b < c` instead of `a < b < c`";
            return Err(perr(msg, self.peek().start));
        }
        Ok(self.node_from(start, Kind::Cmp(op, Box::new(lhs), Box::new(rhs))))
    }

    fn sum(&mut self) -> Parsed {
        self.chain(&["+", "-"], |p| {
            p.chain(&["*", "/"], |p| p.prefix("-", Kind::Neg, Self::primary))
        })
    }

    fn primary(&mut self) -> Parsed {
        let t = self.peek().clone();
        let kind = match t.tok {
            Tok::Val(v) => Kind::Val(v),
            Tok::Ident(name) => Kind::Fact(name),
            Tok::Op("(") => {
                self.enter()?;
                let inner = self.or()?;
                let close = self.peek();
                if close.tok != Tok::Op(")") {
                    let (at, found) = (t.start, self.name(close));
                    let msg = format!("expected `)` to close the `(` at byte {at}, found {found}");
                    return Err(perr(msg, close.start));
                }
                self.pos += 1;
                self.depth -= 1;
                return Ok(inner);
            }
            _ => return Err(self.value_error(&t)),
        };
        self.pos += 1;
        Ok(node(kind, t.start, t.end))
    }

    fn value_error(&self, found: &Token) -> CheckParseError {
        let after = self.prev().map(|p| format!(" after {}", self.name(p)));
        let after = after.unwrap_or_default();
        let msg = match (&found.tok, self.prev()) {
            (Tok::Eof, None) => "empty expression".to_string(),
            (Tok::Eof, Some(_)) => format!("expected a value{after}"),
            (Tok::Op(")"), _) => format!("unexpected `)`; expected a value{after}"),
            _ => format!("expected a value{after}, found {}", self.name(found)),
        };
        perr(msg, found.start)
    }
}

// --------------------------------------------------------------------- evaluation

impl CheckExpr {
    /// Parses `src`, reporting the first problem with its byte offset.
    pub fn parse(src: &str) -> Result<CheckExpr, CheckParseError> {
        let toks = lex(src)?;
        let mut p = Parser {
            src,
            toks,
            pos: 0,
            depth: 0,
        };
        let root = p.or()?;
        let t = p.peek();
        let msg = match t.tok {
            Tok::Eof => {
                return Ok(CheckExpr {
                    source: src.to_string(),
                    root,
                })
            }
            Tok::Op(")") => "unexpected `)` without a matching `(`".to_string(),
            _ => {
                let found = p.name(t);
                format!("expected end of expression, found {found} (missing `and` or `or`?)")
            }
        };
        Err(perr(msg, t.start))
    }

    /// The source text this expression was parsed from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Every fact name the expression reads, with the byte offset of its first use (for "unknown fact" errors at load time).
    pub fn facts(&self) -> Vec<(String, usize)> {
        let mut out: Vec<(String, usize)> = Vec::new();
        walk(&self.root, &mut |n| match &n.kind {
            Kind::Fact(name) if !out.iter().any(|(seen, _)| seen == name) => {
                out.push((name.clone(), n.start));
            }
            _ => {}
        });
        out
    }

    /// Evaluates to a boolean verdict. Non-boolean top-level result is a Type error.
    pub fn eval(&self, facts: &Facts) -> Result<bool, CheckEvalError> {
        self.boolean(&self.root, facts)
    }

    /// One plain sentence per failing leaf comparison saying what must change, using actual values, e.g.
    /// "touchdown_speed_mps must be at most 2 (it was 4.31)", "hazards must equal 0 (it was 2)",
    /// "landed must be true (it was false)". For `or` that fails, say that one of the alternatives must hold.
    /// Returns an empty Vec if the expression passes.
    pub fn what_must_change(&self, facts: &Facts) -> Vec<String> {
        let verdict = self.eval(facts);
        let mut out = Vec::new();
        if verdict != Ok(true) {
            self.changes(&self.root, true, facts, &mut out);
        }
        if out.is_empty() && verdict != Ok(true) {
            // Not expected, but keeps "empty means it passes" true whatever the tree.
            out.push(verdict.map_or_else(|e| e.to_string(), |_| "the check must hold".into()));
        }
        out
    }

    /// A short reason: the leaf comparisons with the actual values substituted, e.g.
    /// "touchdown_speed_mps = 4.31, needs <= 2" joined by "; ". Works for pass and fail.
    pub fn explain(&self, facts: &Facts) -> String {
        let mut leaves = Vec::new();
        self.explain_into(&self.root, true, facts, &mut leaves);
        // Constant leaves such as `true` only add noise next to leaves that read facts.
        if leaves.iter().any(|(constant, _)| !constant) {
            leaves.retain(|(constant, _)| !constant);
        }
        let leaves: Vec<String> = leaves.into_iter().map(|(_, s)| s).collect();
        leaves.join("; ")
    }

    fn text(&self, node: &Node) -> &str {
        self.source.get(node.start..node.end).unwrap_or("")
    }

    fn value(&self, node: &Node, facts: &Facts) -> Result<Value, CheckEvalError> {
        if let Some((or, items)) = logic(node) {
            for item in items {
                if self.boolean(item, facts)? == or {
                    return Ok(Value::Bool(or));
                }
            }
            return Ok(Value::Bool(!or));
        }
        match &node.kind {
            Kind::Val(v) => Ok(v.clone()),
            Kind::Fact(name) => fact_value(name, facts),
            Kind::Neg(inner) => Ok(Value::Num(-self.number(inner, "-", facts)?)),
            Kind::Not(inner) => Ok(Value::Bool(!self.boolean(inner, facts)?)),
            Kind::Chain(first, rest) => {
                let first_op = rest.first().map_or("+", |(op, _)| *op);
                let mut acc = self.number(first, first_op, facts)?;
                for (op, n) in rest {
                    let v = self.number(n, op, facts)?;
                    acc = match *op {
                        "+" => acc + v,
                        "-" => acc - v,
                        "*" => acc * v,
                        _ if v == 0.0 => {
                            return type_err(format!("division by zero: `{}` is 0", self.text(n)))
                        }
                        _ => acc / v,
                    };
                }
                Ok(Value::Num(acc))
            }
            Kind::Cmp(op, lhs, rhs) => {
                let (l, r) = (self.value(lhs, facts)?, self.value(rhs, facts)?);
                let (lt, rt) = (self.text(lhs), self.text(rhs));
                let verdict = match (*op, &l, &r) {
                    ("<", Value::Num(x), Value::Num(y)) => x < y,
                    ("<=", Value::Num(x), Value::Num(y)) => x <= y,
                    (">", Value::Num(x), Value::Num(y)) => x > y,
                    (">=", Value::Num(x), Value::Num(y)) => x >= y,
                    ("==" | "!=", a, b) if discriminant(a) == discriminant(b) => {
                        (a == b) == (*op == "==")
                    }
                    ("==" | "!=", _, _) => {
                        let (ld, rd) = (describe(&l), describe(&r));
                        let msg = format!("`{op}` cannot compare `{lt}` ({ld}) with `{rt}` ({rd})");
                        return type_err(msg);
                    }
                    (_, Value::Num(_), _) => {
                        let msg = format!(
                            "`{op}` only compares numbers, but `{rt}` is {}",
                            describe(&r)
                        );
                        return type_err(msg);
                    }
                    _ => {
                        let msg = format!(
                            "`{op}` only compares numbers, but `{lt}` is {}",
                            describe(&l)
                        );
                        return type_err(msg);
                    }
                };
                Ok(Value::Bool(verdict))
            }
        }
    }

    fn number(&self, node: &Node, op: &str, facts: &Facts) -> Result<f64, CheckEvalError> {
        match self.value(node, facts)? {
            Value::Num(n) => Ok(n),
            v => {
                let (text, what) = (self.text(node), describe(&v));
                type_err(format!("`{op}` needs numbers, but `{text}` is {what}"))
            }
        }
    }

    fn boolean(&self, node: &Node, facts: &Facts) -> Result<bool, CheckEvalError> {
        match self.value(node, facts)? {
            Value::Bool(b) => Ok(b),
            v => {
                let (text, what) = (self.text(node), describe(&v));
                type_err(format!("`{text}` must be true or false, but it is {what}"))
            }
        }
    }

    /// Pushes what must change for the failing `node` to evaluate to `want`.
    fn changes(&self, node: &Node, want: bool, facts: &Facts, out: &mut Vec<String>) {
        // Whether an operand is as wanted: `Some(true)` yes, `Some(false)` no, `None` error.
        let status = |n: &Node| self.boolean(n, facts).ok().map(|b| b == want);
        let (or, items) = match (&node.kind, logic(node)) {
            (Kind::Not(inner), _) => return self.changes(inner, !want, facts, out),
            (_, Some(logic)) => logic,
            _ => return out.push(self.leaf(node, want, facts).map_or_else(|e| e, |l| l.0)),
        };
        if or != want {
            // Every operand must be `want` (`and` made true, `or` made false). An error
            // is reported only if evaluation reaches it: every operand before it passed.
            let mut reached = true;
            for item in items {
                let status = status(item);
                if status == Some(false) || (status.is_none() && reached) {
                    self.changes(item, want, facts, out);
                }
                reached &= status == Some(true);
            }
            return;
        }
        // One operand must be `want`; an error reached on the way is the thing to fix.
        let mut alternatives = Vec::new();
        for item in items {
            match status(item) {
                Some(true) => return,
                None => return self.changes(item, want, facts, out),
                Some(false) => {
                    let mut sub = Vec::new();
                    self.changes(item, want, facts, &mut sub);
                    alternatives.push(sub.join(" and "));
                }
            }
        }
        if alternatives.len() > 1 {
            out.push(format!(
                "one of these must hold: {}",
                alternatives.join("; or ")
            ));
        } else {
            out.extend(alternatives);
        }
    }

    /// Collects (reads no facts, explanation) for every leaf under `node`.
    fn explain_into(&self, node: &Node, want: bool, facts: &Facts, out: &mut Vec<(bool, String)>) {
        match (&node.kind, logic(node)) {
            (Kind::Not(inner), _) => self.explain_into(inner, !want, facts, out),
            (_, Some((_, items))) => {
                items
                    .into_iter()
                    .for_each(|item| self.explain_into(item, want, facts, out));
            }
            _ => out.push(match self.leaf(node, want, facts) {
                Ok((_, explain, constant)) => (constant, explain),
                Err(e) => (false, e),
            }),
        }
    }

    /// Describes a leaf that should evaluate to `want`: (what must change, explanation,
    /// whether it reads no facts), or why it cannot be evaluated.
    fn leaf(
        &self,
        node: &Node,
        want: bool,
        facts: &Facts,
    ) -> Result<(String, String, bool), String> {
        let text = self.text(node);
        let Kind::Cmp(op, lhs, rhs) = &node.kind else {
            let b = self.boolean(node, facts).map_err(|e| e.to_string())?;
            let constant = !has_facts(node);
            let actual = if constant {
                String::new()
            } else {
                format!(" (it was {b})")
            };
            let must = format!("{text} must be {want}{actual}");
            return Ok((must, format!("{text} = {b}, needs {want}"), constant));
        };
        self.value(node, facts).map_err(|e| e.to_string())?;
        let (l, r) = match (self.value(lhs, facts), self.value(rhs, facts)) {
            (Ok(l), Ok(r)) => (l, r),
            (Err(e), _) | (_, Err(e)) => return Err(e.to_string()),
        };
        let op = if want { *op } else { comparison(op).1 };
        // Phrase the sentence about the side that reads facts: `2 >= x` as `x <= 2`.
        let (subject, sv, other, ov, op) = if !has_facts(lhs) && has_facts(rhs) {
            (rhs, r, lhs, l, comparison(op).2)
        } else {
            (lhs, l, rhs, r, op)
        };
        let ((svs, ovs), phrase) = (fmt_pair(&sv, &ov), comparison(op).3);
        let (st, ot) = (self.text(subject), self.text(other));
        let (subject_facts, other_facts) = (has_facts(subject), has_facts(other));
        let target = match (op, &ov) {
            _ if other_facts => format!("{phrase} {ot}"),
            ("==", Value::Bool(b)) => format!("be {b}"),
            ("!=", Value::Bool(b)) => format!("be {}", !b),
            _ => format!("{phrase} {ovs}"),
        };
        let (actual, explain) = match (subject_facts, other_facts) {
            (_, true) => (
                format!(" ({st} was {svs}, {ot} was {ovs})"),
                format!("{st} = {svs}, {ot} = {ovs}, needs {st} {op} {ot}"),
            ),
            (true, false) => (
                format!(" (it was {svs})"),
                format!("{st} = {svs}, needs {op} {ovs}"),
            ),
            _ => (String::new(), format!("{st} = {svs}, needs {op} {ovs}")),
        };
        let must = format!("{st} must {target}{actual}");
        Ok((must, explain, !subject_facts && !other_facts))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn lander() -> Facts {
        let facts = json!({
            "touchdown_speed_mps": 4.3125, "hazards": 2, "landed": false, "fuel": 10,
            "status": "crashed", "site.slope": 3.5, "nothing": null, "list": [1, 2], "obj": {"a": 1},
        });
        serde_json::from_value(facts).unwrap()
    }

    fn parse(src: &str) -> CheckExpr {
        CheckExpr::parse(src).unwrap_or_else(|e| panic!("{src:?}: {e} at {}", e.offset))
    }

    /// Calls `check(source, expected)` for each non-blank line `source => expected`.
    fn table(rows: &str, check: impl Fn(&str, &str)) {
        for row in rows.lines().map(str::trim).filter(|r| !r.is_empty()) {
            let (src, want) = row
                .split_once(" => ")
                .unwrap_or_else(|| panic!("bad row {row}"));
            check(src, want);
        }
    }

    /// Verdicts: `true`, `false`, or the error message.
    const EVAL: &str = r#"
        1 + 2 * 3 == 7 => true
        (1 + 2) * 3 == 9 => true
        10 - 4 - 3 == 3 => true
        8 / 4 / 2 == 1 => true
        -2 * 3 == -6 => true
        -(1 + 2) == -3 => true
        --2 == 2 => true
        2 - -2 == 4 => true
        1.5 + 0.25 == 1.75 => true
        fuel * 2 - 1 == 19 => true
        "a\"b\\" == "a\"b\\" => true
        true or false and false => true
        (true or false) and false => false
        not false and false => false
        not (false and false) => true
        not 1 > 2 => true
        not not true => true
        !false && true => true
        false || !true => false
        false or false or true => true
        (1 < 2) == true => true
        landed == (fuel > 20) => true
        1 < 2 => true
        2 < 2 => false
        2 <= 2 => true
        3 <= 2 => false
        3 > 2 => true
        2 > 2 => false
        2 >= 2 => true
        1 >= 2 => false
        2 == 2.0 => true
        2 == 3 => false
        2 != 3 => true
        2 != 2 => false
        status == "crashed" => true
        status != "crashed" => false
        landed == false => true
        landed != true => true
        site.slope > 3 => true
        touchdown_speed_mps <= 2 => false
        altitude > 3 => fact `altitude` is missing
        landed and altitude > 3 => false
        not landed or altitude => true
        true and altitude => fact `altitude` is missing
        status < 3 => `<` only compares numbers, but `status` is the string "crashed"
        3 >= landed => `>=` only compares numbers, but `landed` is the boolean false
        status == 3 => `==` cannot compare `status` (the string "crashed") with `3` (the number 3)
        landed != 0 => `!=` cannot compare `landed` (the boolean false) with `0` (the number 0)
        landed + 1 > 0 => `+` needs numbers, but `landed` is the boolean false
        -status == 1 => `-` needs numbers, but `status` is the string "crashed"
        not fuel => `fuel` must be true or false, but it is the number 10
        fuel and true => `fuel` must be true or false, but it is the number 10
        fuel + 1 => `fuel + 1` must be true or false, but it is the number 11
        "x" => `"x"` must be true or false, but it is the string "x"
        fuel / (hazards - 2) > 1 => division by zero: `(hazards - 2)` is 0
        nothing == 1 => fact `nothing` is null; checks can only use numbers, strings and booleans
        list == 1 => fact `list` is an array; checks can only use numbers, strings and booleans
        obj == 1 => fact `obj` is an object; checks can only use numbers, strings and booleans
    "#;

    #[test]
    fn eval_operators_precedence_and_errors() {
        let f = lander();
        table(EVAL, |src, want| {
            let got = parse(src)
                .eval(&f)
                .map_or_else(|e| e.to_string(), |b| b.to_string());
            assert_eq!(got, want, "{src}");
        });
        let err = parse("altitude > 3").eval(&f);
        assert_eq!(err, Err(CheckEvalError::MissingFact("altitude".into())));
    }

    /// `source => offset: message prefix`.
    const PARSE_ERRORS: &str = r#"
        x <= => 4: expected a value after `<=`
        x <= ) => 5: unexpected `)`; expected a value after `<=`
        ) => 0: unexpected `)`; expected a value
        x > 1) => 5: unexpected `)` without a matching `(`
        () => 1: unexpected `)`; expected a value after `(`
        x == "abc => 5: unterminated string
        "ab\ => 0: unterminated string
        x # 1 => 2: unknown character `#`
        x > 1 é => 6: unknown character `é`
        x = 1 => 2: unknown character `=` (did you mean `==`?)
        a & b => 2: unknown character `&` (did you mean `&&` or `and`?)
        a | b => 2: unknown character `|` (did you mean `||` or `or`?)
        x > 1 foo => 6: expected end of expression, found `foo` (missing `and` or `or`?)
        x > 1 +  => 7: expected a value after `+`
        x > 1 * * 2 => 8: expected a value after `*`, found `*`
        a < b < c => 6: comparison operators cannot be chained
        1 < 2 == true => 6: comparison operators cannot be chained
        (x > 1 => 6: expected `)` to close the `(` at byte 0, found the end of the expression
        (x > 1 y => 7: expected `)` to close the `(` at byte 0, found `y`
        1. > 0 => 1: expected a digit after `.` in a number
        site. > 1 => 4: unknown character `.`
        "a\q" => 2: unknown escape `\q` in string; only `\"` and `\\` are allowed
        not => 3: expected a value after `not`
        x and => 5: expected a value after `and`
        x || => 4: expected a value after `||`
        x == and => 5: expected a value after `==`, found `and`
        and x => 0: expected a value, found `and`
    "#;

    #[test]
    fn parse_errors_have_messages_and_offsets() {
        table(PARSE_ERRORS, |src, want| {
            let (offset, msg) = want.split_once(": ").unwrap_or_default();
            let e = CheckExpr::parse(src).expect_err(src);
            assert!(e.message.starts_with(msg), "{src}: got {:?}", e.message);
            assert_eq!(e.offset.to_string(), offset, "{src}: {}", e.message);
            assert_eq!(e.to_string(), e.message);
        });
        for (src, offset) in [("", 0), ("   ", 3)] {
            let e = CheckExpr::parse(src).expect_err(src);
            assert_eq!((e.message.as_str(), e.offset), ("empty expression", offset));
        }
        let e = CheckExpr::parse(&format!("x < {}", "9".repeat(400))).expect_err("huge");
        assert_eq!((e.offset, e.message.ends_with("is too large")), (4, true));
    }

    #[test]
    fn nesting_is_capped() {
        let nested = |n: usize| format!("{}x{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(
            parse(&nested(MAX_DEPTH)).facts(),
            [("x".to_string(), MAX_DEPTH)]
        );
        let e = CheckExpr::parse(&nested(MAX_DEPTH + 1)).expect_err("too deep");
        assert_eq!(e.offset, MAX_DEPTH);
        assert!(e
            .message
            .starts_with("expression is nested too deeply (more than 64 levels"));
        let deep = [
            nested(10_000),
            "(".repeat(10_000),
            "not ".repeat(10_000) + "x",
        ];
        for src in deep.into_iter().chain(["-".repeat(10_000) + "1"]) {
            let e = CheckExpr::parse(&src).expect_err("too deep");
            assert!(e.message.contains("nested too deeply"));
        }
        // Long flat chains are fine and evaluate without deep recursion.
        let f = lander();
        assert_eq!(
            parse(&vec!["fuel > 1"; 10_000].join(" and ")).eval(&f),
            Ok(true)
        );
        let sum = format!("{} == 10000", vec!["1"; 10_000].join(" + "));
        assert_eq!(parse(&sum).eval(&f), Ok(true));
    }

    #[test]
    fn facts_lists_names_with_first_offsets() {
        let src = "landed and (fuel > 1 or fuel < site.slope) and -x == 2";
        let c = parse(src);
        assert_eq!(c.source(), src);
        let want = [("landed", 0), ("fuel", 12), ("site.slope", 31), ("x", 48)];
        assert_eq!(c.facts(), want.map(|(n, o)| (n.to_string(), o)));
        assert!(parse("1 < 2").facts().is_empty());
    }

    /// `source => sentence | sentence ...` (nothing after `=>` when it passes).
    const CHANGES: &str = r#"
        touchdown_speed_mps <= 2 => touchdown_speed_mps must be at most 2 (it was 4.31)
        touchdown_speed_mps < 2 => touchdown_speed_mps must be less than 2 (it was 4.31)
        fuel >= 20 => fuel must be at least 20 (it was 10)
        fuel > 10 => fuel must be greater than 10 (it was 10)
        hazards == 0 => hazards must equal 0 (it was 2)
        hazards != 2 => hazards must not equal 2 (it was 2)
        landed => landed must be true (it was false)
        landed == true => landed must be true (it was false)
        landed != false => landed must be true (it was false)
        not (hazards > 1) => hazards must be at most 1 (it was 2)
        !(fuel == 10) => fuel must not equal 10 (it was 10)
        not not landed => landed must be true (it was false)
        2 >= touchdown_speed_mps => touchdown_speed_mps must be at most 2 (it was 4.31)
        status == "ok" => status must equal "ok" (it was "crashed")
        fuel * 2 <= 3 * 5 => fuel * 2 must be at most 15 (it was 20)
        hazards >= fuel => hazards must be at least fuel (hazards was 2, fuel was 10)
        fuel <= 10 - 0.004 => fuel must be at most 9.996 (it was 10)
        1 > 2 => 1 must be greater than 2
        altitude > 3 => fact `altitude` is missing
        status > 3 => `>` only compares numbers, but `status` is the string "crashed"
        fuel + 1 => `fuel + 1` must be true or false, but it is the number 11
        fuel > 1 and not landed =>
        landed and touchdown_speed_mps <= 2 and hazards == 0 and fuel > 1 => landed must be true (it was false) | touchdown_speed_mps must be at most 2 (it was 4.31) | hazards must equal 0 (it was 2)
        landed or hazards == 0 => one of these must hold: landed must be true (it was false); or hazards must equal 0 (it was 2)
        landed || (hazards == 0 && fuel > 20) => one of these must hold: landed must be true (it was false); or hazards must equal 0 (it was 2) and fuel must be greater than 20 (it was 10)
        not (fuel > 1 or hazards > 1) => fuel must be at most 1 (it was 10) | hazards must be at most 1 (it was 2)
        not (fuel > 1 and hazards > 1) => one of these must hold: fuel must be at most 1 (it was 10); or hazards must be at most 1 (it was 2)
        landed and altitude > 1 => landed must be true (it was false)
        altitude > 1 and hazards == 0 => fact `altitude` is missing | hazards must equal 0 (it was 2)
        landed or altitude > 1 => fact `altitude` is missing
    "#;

    #[test]
    fn what_must_change_wording() {
        let f = lander();
        for row in CHANGES.lines().filter(|r| r.trim_end().ends_with("=>")) {
            assert!(parse(row.trim().trim_end_matches("=>"))
                .what_must_change(&f)
                .is_empty());
        }
        table(CHANGES, |src, want| {
            assert_eq!(
                parse(src).what_must_change(&f),
                want.split(" | ").collect::<Vec<_>>()
            );
        });
    }

    const EXPLAIN: &str = r#"
        landed and touchdown_speed_mps <= 2 or 1 < hazards => landed = false, needs true; touchdown_speed_mps = 4.31, needs <= 2; hazards = 2, needs > 1
        not (fuel >= hazards) and true and altitude > 0 => fuel = 10, hazards = 2, needs fuel < hazards; fact `altitude` is missing
        status != "ok" => status = "crashed", needs != "ok"
        1 < 2 => 1 = 1, needs < 2
    "#;

    #[test]
    fn explain_substitutes_actual_values() {
        let f = lander();
        table(EXPLAIN, |src, want| {
            assert_eq!(parse(src).explain(&f), want, "{src}")
        });
    }

    #[test]
    fn number_formatting() {
        let cases = [
            (2.0, "2"),
            (4.3125, "4.31"),
            (0.5, "0.5"),
            (-0.001, "0"),
            (-2.25, "-2.25"),
        ];
        for (n, want) in cases {
            assert_eq!(fmt_num(n, 2), want);
        }
        let pair = fmt_pair(&Value::Num(2.0), &Value::Num(2.004));
        assert_eq!(pair, ("2".to_string(), "2.004".to_string()));
    }

    /// Deterministic pseudo-random inputs never panic, errors point inside the source,
    /// and `what_must_change` is empty exactly when the check passes.
    #[test]
    fn fuzz_never_panics() {
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: usize| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as usize % n
        };
        let f = lander();
        let alphabet: Vec<char> = "ab_.xyz019 ()<>=!&|+-*/\"\\#andortuefls".chars().collect();
        let words: Vec<&str> =
            "fuel hazards landed status site.slope nothing missing 0 2 4.5 \"ok\" \
            true false and or not ! && || ( ) < <= > >= == != + - * /"
                .split_whitespace()
                .collect();
        let mut parsed = 0;
        for round in 0..20_000 {
            let len = next(24);
            let src: String = if round % 2 == 0 {
                (0..len)
                    .map(|_| alphabet.get(next(alphabet.len())).copied().unwrap_or('a'))
                    .collect()
            } else {
                let pick = |_| words.get(next(words.len())).copied().unwrap_or("x");
                (0..len).map(pick).collect::<Vec<_>>().join(" ")
            };
            match CheckExpr::parse(&src) {
                Ok(c) => {
                    parsed += 1;
                    let verdict = c.eval(&f);
                    let must = c.what_must_change(&f);
                    assert_eq!(
                        must.is_empty(),
                        verdict == Ok(true),
                        "{src}: {verdict:?} {must:?}"
                    );
                    assert!(!c.explain(&f).is_empty(), "{src}");
                    for (name, at) in c.facts() {
                        assert_eq!(src.get(at..at + name.len()), Some(name.as_str()), "{src}");
                    }
                }
                Err(e) => assert!(src.is_char_boundary(e.offset), "{src}: {e:?}"),
            }
        }
        assert!(parsed > 1_000, "only {parsed} inputs parsed");
    }
}

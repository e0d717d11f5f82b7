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
//!
//! Layout: `lex` turns source text into tokens, `parse` builds the syntax tree,
//! `types` finds what no facts can cure (a division by a constant zero, text compared with
//! a number) so it is refused at load, `eval` computes verdicts and evaluation errors, and `explain` words feedback
//! sentences and formats numbers. This file holds the public types, the syntax tree
//! and the helpers that walk it.

mod eval;
mod explain;
mod lex;
mod parse;
#[cfg(test)]
mod tests;
mod types;

pub use types::FactType;

use std::collections::BTreeMap;

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

impl CheckExpr {
    /// Parses `src`, reporting the first problem with its byte offset.
    pub fn parse(src: &str) -> Result<CheckExpr, CheckParseError> {
        let root = parse::expression(src)?;
        let source = src.to_string();
        Ok(CheckExpr { source, root })
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
}

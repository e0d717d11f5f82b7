//! Parsing: recursive descent from tokens to the syntax tree, with precedence,
//! non-associative comparisons and the [`MAX_DEPTH`] nesting cap.

use super::lex::{lex, Tok, Token};
use super::{node, perr, CheckParseError, Kind, Node, COMPARISONS, MAX_DEPTH};

type Parsed = Result<Node, CheckParseError>;
type Rule<'a> = fn(&mut Parser<'a>) -> Parsed;

/// Recursive descent over the tokens; every token consumed is a non-`Eof` token.
struct Parser<'a> {
    src: &'a str,
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
}

/// Never used: the parser stops at the `Eof` token that ends every token list.
static EOF: Token = Token {
    tok: Tok::Eof,
    start: 0,
    end: 0,
};

impl<'a> Parser<'a> {
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
    fn chain(&mut self, ops: &[&'static str], operand: Rule<'a>) -> Parsed {
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
    fn prefix(&mut self, op: &str, wrap: fn(Box<Node>) -> Kind, operand: Rule<'a>) -> Parsed {
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

/// Parses the whole of `src` into a syntax tree, reporting the first problem with its
/// byte offset.
pub(super) fn expression(src: &str) -> Parsed {
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
        Tok::Eof => return Ok(root),
        Tok::Op(")") => "unexpected `)` without a matching `(`".to_string(),
        _ => {
            let found = p.name(t);
            format!("expected end of expression, found {found} (missing `and` or `or`?)")
        }
    };
    Err(perr(msg, t.start))
}

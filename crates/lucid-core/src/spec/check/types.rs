//! Checking an expression before any run: the problems that hold whatever values the
//! facts take. A division by a constant zero, and an operator given a value of the wrong
//! kind (a literal, or a fact whose kind the session file declares, such as a `text`
//! command fact compared with a number), are refused when the session file loads, with
//! the byte offset of the part at fault. Facts of unknown kind pass here and are checked
//! when the expression is evaluated.

use super::{has_facts, logic, CheckExpr, CheckParseError, Facts, Kind, Node, Value};

/// What a fact is known to hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactType {
    Number,
    Text,
    Boolean,
}

impl FactType {
    fn of(value: &Value) -> FactType {
        match value {
            Value::Num(_) => FactType::Number,
            Value::Str(_) => FactType::Text,
            Value::Bool(_) => FactType::Boolean,
        }
    }

    fn described(self) -> &'static str {
        match self {
            FactType::Number => "a number",
            FactType::Text => "text",
            FactType::Boolean => "true or false",
        }
    }
}

type Problem = CheckParseError;

impl CheckExpr {
    /// The first problem that no facts can cure, if any; `fact_type` says what a fact
    /// holds when the session file declares it.
    pub fn static_problem(&self, fact_type: &dyn Fn(&str) -> Option<FactType>) -> Option<Problem> {
        let checker = Checker {
            expr: self,
            fact_type,
        };
        match checker.infer(&self.root) {
            Err(problem) => Some(problem),
            Ok(Some(found)) if found != FactType::Boolean => Some(checker.problem(
                &self.root,
                format!(
                    "the check must be true or false, but it is {}",
                    found.described()
                ),
            )),
            Ok(_) => None,
        }
    }
}

struct Checker<'a> {
    expr: &'a CheckExpr,
    fact_type: &'a dyn Fn(&str) -> Option<FactType>,
}

impl Checker<'_> {
    fn problem(&self, node: &Node, message: String) -> Problem {
        CheckParseError {
            message,
            offset: node.start,
        }
    }

    /// What `node` is, when that is known without the facts.
    fn infer(&self, node: &Node) -> Result<Option<FactType>, Problem> {
        if let Some((_, items)) = logic(node) {
            for item in items {
                self.expect(item, FactType::Boolean, "and/or")?;
            }
            return Ok(Some(FactType::Boolean));
        }
        match &node.kind {
            Kind::Val(value) => Ok(Some(FactType::of(value))),
            Kind::Fact(name) => Ok((self.fact_type)(name)),
            Kind::Neg(inner) => {
                self.expect(inner, FactType::Number, "-")?;
                Ok(Some(FactType::Number))
            }
            Kind::Not(inner) => {
                self.expect(inner, FactType::Boolean, "not")?;
                Ok(Some(FactType::Boolean))
            }
            Kind::Chain(first, rest) => {
                let first_op = rest.first().map_or("+", |(op, _)| *op);
                self.expect(first, FactType::Number, first_op)?;
                for (op, operand) in rest {
                    self.expect(operand, FactType::Number, op)?;
                    if *op == "/" && !has_facts(operand) {
                        let constant = self.expr.value(operand, &Facts::new());
                        if matches!(constant, Ok(Value::Num(n)) if n == 0.0) {
                            return Err(self.problem(
                                operand,
                                format!(
                                    "division by zero: `{}` is always 0",
                                    self.expr.text(operand)
                                ),
                            ));
                        }
                    }
                }
                Ok(Some(FactType::Number))
            }
            Kind::Cmp(op, lhs, rhs) => {
                let (left, right) = (self.infer(lhs)?, self.infer(rhs)?);
                let (lt, rt) = (self.expr.text(lhs), self.expr.text(rhs));
                if matches!(*op, "==" | "!=") {
                    if let (Some(l), Some(r)) = (left, right) {
                        if l != r {
                            return Err(self.problem(
                                node,
                                format!(
                                    "`{op}` cannot compare `{lt}` ({}) with `{rt}` ({})",
                                    l.described(),
                                    r.described()
                                ),
                            ));
                        }
                    }
                } else {
                    for (side, found, text) in [(lhs, left, lt), (rhs, right, rt)] {
                        if let Some(found) = found.filter(|f| *f != FactType::Number) {
                            return Err(self.problem(
                                side,
                                format!(
                                    "`{op}` only compares numbers, but `{text}` is {}",
                                    found.described()
                                ),
                            ));
                        }
                    }
                }
                Ok(Some(FactType::Boolean))
            }
        }
    }

    fn expect(&self, node: &Node, want: FactType, op: &str) -> Result<(), Problem> {
        match self.infer(node)? {
            Some(found) if found != want => Err(self.problem(
                node,
                format!(
                    "`{op}` needs {}, but `{}` is {}",
                    match want {
                        FactType::Number => "numbers",
                        FactType::Text => "text",
                        FactType::Boolean => "true or false",
                    },
                    self.expr.text(node),
                    found.described()
                ),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problem(src: &str) -> Option<String> {
        let kinds = |name: &str| match name {
            "log" => Some(FactType::Text),
            "passed" => Some(FactType::Boolean),
            "count" => Some(FactType::Number),
            _ => None,
        };
        let expr = CheckExpr::parse(src).unwrap();
        expr.static_problem(&kinds)
            .map(|p| format!("{} @{}", p.message, p.offset))
    }

    #[test]
    fn what_no_facts_can_cure_is_found_with_its_offset() {
        assert_eq!(
            problem("count / 0 > 1").as_deref(),
            Some("division by zero: `0` is always 0 @8")
        );
        assert_eq!(
            problem("count / (2 - 2) > 1").as_deref(),
            Some("division by zero: `2 - 2` is always 0 @9")
        );
        assert_eq!(
            problem("log > 3").as_deref(),
            Some("`>` only compares numbers, but `log` is text @0")
        );
        assert_eq!(
            problem("passed and log == 0").as_deref(),
            Some("`==` cannot compare `log` (text) with `0` (a number) @11")
        );
        assert_eq!(
            problem("count + log > 1").as_deref(),
            Some("`+` needs numbers, but `log` is text @8")
        );
        assert_eq!(
            problem("count + 1").as_deref(),
            Some("the check must be true or false, but it is a number @0")
        );
        assert_eq!(
            problem("\"a\" == 1").as_deref(),
            Some("`==` cannot compare `\"a\"` (text) with `1` (a number) @0")
        );
        // Facts of unknown kind, division by a fact, and sound checks pass.
        for fine in [
            "other > 3",
            "count / other > 1",
            "count / count > 0",
            "passed and count <= 2 and log != \"x\"",
            "not passed or count == 0",
        ] {
            assert_eq!(problem(fine), None, "{fine}");
        }
    }
}

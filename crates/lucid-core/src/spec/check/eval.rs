//! Evaluation: computes the value of a syntax tree over result facts, with the
//! type errors (and missing-fact errors) that stop a verdict.

use std::mem::discriminant;

use super::explain::describe;
use super::{logic, CheckEvalError, CheckExpr, Facts, Kind, Node, Value};

fn type_err<T>(message: String) -> Result<T, CheckEvalError> {
    Err(CheckEvalError::Type(message))
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

impl CheckExpr {
    pub(super) fn text(&self, node: &Node) -> &str {
        self.source.get(node.start..node.end).unwrap_or("")
    }

    pub(super) fn value(&self, node: &Node, facts: &Facts) -> Result<Value, CheckEvalError> {
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
                    _ => {
                        let (text, v) = match l {
                            Value::Num(_) => (rt, describe(&r)),
                            _ => (lt, describe(&l)),
                        };
                        return type_err(format!(
                            "`{op}` only compares numbers, but `{text}` is {v}"
                        ));
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

    pub(super) fn boolean(&self, node: &Node, facts: &Facts) -> Result<bool, CheckEvalError> {
        match self.value(node, facts)? {
            Value::Bool(b) => Ok(b),
            v => {
                let (text, what) = (self.text(node), describe(&v));
                type_err(format!("`{text}` must be true or false, but it is {what}"))
            }
        }
    }
}

//! Feedback wording: the sentences behind [`CheckExpr::what_must_change`] and
//! [`CheckExpr::explain`], and how values and numbers are formatted in them.

use super::{comparison, has_facts, logic, CheckEvalError, CheckExpr, Facts, Kind, Node, Value};

/// A leaf described for feedback: what must change, the explanation, and whether it
/// reads no facts.
type Described = (String, String, bool);

/// Formats `n` with at most `decimals` decimals, trailing zeros trimmed.
pub(super) fn fmt_num(n: f64, decimals: usize) -> String {
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
pub(super) fn fmt_pair(a: &Value, b: &Value) -> (String, String) {
    if let (Value::Num(x), Value::Num(y)) = (a, b) {
        if let Some(d) = (2..=6).find(|d| fmt_num(*x, *d) != fmt_num(*y, *d)) {
            return (fmt_num(*x, d), fmt_num(*y, d));
        }
    }
    (fmt_value(a), fmt_value(b))
}

pub(super) fn describe(v: &Value) -> String {
    let kind = match v {
        Value::Num(_) => "number",
        Value::Str(_) => "string",
        Value::Bool(_) => "boolean",
    };
    format!("the {kind} {}", fmt_value(v))
}

impl CheckExpr {
    pub(super) fn changes(&self, node: &Node, want: bool, facts: &Facts, out: &mut Vec<String>) {
        // Whether an operand is as wanted: `Some(true)` yes, `Some(false)` no, `None` error.
        let status = |n: &Node| self.boolean(n, facts).ok().map(|b| b == want);
        let (or, items) = match (&node.kind, logic(node)) {
            (Kind::Not(inner), _) => return self.changes(inner, !want, facts, out),
            (_, Some(logic)) => logic,
            _ => {
                return out.push(
                    self.leaf(node, want, facts)
                        .map_or_else(|err| err.to_string(), |l| l.0),
                )
            }
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
            let alternatives = alternatives.join("; or ");
            out.push(format!("one of these must hold: {alternatives}"));
        } else {
            out.extend(alternatives);
        }
    }

    /// Collects (reads no facts, explanation) for every leaf under `node`.
    pub(super) fn explain_into(
        &self,
        node: &Node,
        want: bool,
        facts: &Facts,
        out: &mut Vec<(bool, String)>,
    ) {
        match (&node.kind, logic(node)) {
            (Kind::Not(inner), _) => self.explain_into(inner, !want, facts, out),
            (_, Some((_, items))) => {
                items
                    .iter()
                    .for_each(|item| self.explain_into(item, want, facts, out));
            }
            _ => out.push(match self.leaf(node, want, facts) {
                Ok((_, explain, constant)) => (constant, explain),
                Err(err) => (false, err.to_string()),
            }),
        }
    }

    /// Describes a leaf that should evaluate to `want`, or says why it cannot be evaluated.
    fn leaf(&self, node: &Node, want: bool, facts: &Facts) -> Result<Described, CheckEvalError> {
        let text = self.text(node);
        let Kind::Cmp(op, lhs, rhs) = &node.kind else {
            let b = self.boolean(node, facts)?;
            let constant = !has_facts(node);
            let actual = if constant {
                String::new()
            } else {
                format!(" (it was {b})")
            };
            let must = format!("{text} must be {want}{actual}");
            return Ok((must, format!("{text} = {b}, needs {want}"), constant));
        };
        self.value(node, facts)?;
        let (l, r) = match (self.value(lhs, facts), self.value(rhs, facts)) {
            (Ok(l), Ok(r)) => (l, r),
            (Err(err), _) | (_, Err(err)) => return Err(err),
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
            (known, false) => {
                let actual = if known {
                    format!(" (it was {svs})")
                } else {
                    String::new()
                };
                (actual, format!("{st} = {svs}, needs {op} {ovs}"))
            }
        };
        let must = format!("{st} must {target}{actual}");
        Ok((must, explain, !subject_facts && !other_facts))
    }
}

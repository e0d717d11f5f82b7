//! Structured playbook rules as scripted policies read them from their prompt.
//!
//! A playbook rendered into a system prompt may carry a fenced block tagged
//! `lucid-rules` holding one JSON object per line:
//!
//! ```text
//! {"when": {"terrain": "ridged"}, "then": {"avoid": true}}
//! {"when": {"terrain": "dune"}, "then": {"burn_margin_m": {"min": 150}}}
//! ```
//!
//! `when` lists observable features and the values they must have (all must match): a
//! value matches itself, and a `{"min": a, "max": b}` object matches numbers `a ≤ x < b`
//! (either bound may be left out), e.g. `{"orbital_slope_deg": {"min": 2.5}}`;
//! `then` names a parameter and either a value or a `min`/`max` bound. Rules are
//! generic: they name features and parameters an environment exposes, never a lesson of
//! their own. Lines that do not parse are skipped, as an LLM would ignore a garbled hint.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The fence tag that marks a rules block in a prompt.
pub const FENCE_TAG: &str = "lucid-rules";

/// The line an agent writes when its own evidence makes it depart from a rule:
/// `RULE_OVERRIDDEN memory=<id> evidence=<what it saw>`. The runner records each as a
/// `rule_overridden` event; dreams read them as evidence against the rule.
pub const OVERRIDE_TAG: &str = "RULE_OVERRIDDEN";

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default)]
    pub when: BTreeMap<String, Value>,
    pub then: BTreeMap<String, Value>,
    /// The playbook the rule belongs to, as rendered into a prompt (so an agent can say
    /// which rule it departs from); absent in stored memories.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// As rendered into a prompt: this session tests, on purpose, a choice the rule says
    /// to avoid (`[dreaming] explore`), so evidence about it can come back. Never set
    /// in stored memories: the runner decides it per session.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub explore: bool,
}

/// The line that reports a departure from `rule` with the evidence for it.
pub fn override_line(rule: &Rule, evidence: &str) -> String {
    let evidence: String = evidence
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    format!(
        "{OVERRIDE_TAG} memory={} evidence={evidence}",
        rule.memory.as_deref().unwrap_or("unknown")
    )
}

/// Every departure an agent's text reports: `(memory id, evidence)`.
pub fn parse_overrides(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            // As an LLM may copy the format: in backticks, as a list item, quoted.
            let line = line
                .trim()
                .trim_start_matches(['`', '*', '-', '>', ' '])
                .trim_end_matches(['`', ' ']);
            let rest = line.strip_prefix(OVERRIDE_TAG)?.trim_start();
            let rest = rest.strip_prefix("memory=")?;
            let (memory, evidence) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            let evidence = evidence
                .trim()
                .strip_prefix("evidence=")
                .unwrap_or(evidence.trim());
            (!memory.is_empty()).then(|| (memory.to_string(), evidence.trim().to_string()))
        })
        .collect()
}

/// What a rule says about one parameter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Directive {
    Set(f64),
    AtLeast(f64),
    AtMost(f64),
}

impl Rule {
    /// Whether every condition holds for the given observed features. A feature that
    /// was not observed does not match.
    pub fn applies(&self, features: &BTreeMap<String, Value>) -> bool {
        self.when.iter().all(|(name, wanted)| {
            features
                .get(name)
                .is_some_and(|seen| values_match(seen, wanted))
        })
    }

    /// The boolean value of a `then` entry, e.g. `avoid`.
    pub fn flag(&self, parameter: &str) -> Option<bool> {
        self.then.get(parameter).and_then(Value::as_bool)
    }

    /// The string value of a `then` entry, e.g. `survey`.
    pub fn word(&self, parameter: &str) -> Option<&str> {
        self.then.get(parameter).and_then(Value::as_str)
    }

    /// The numeric directive of a `then` entry.
    pub fn number(&self, parameter: &str) -> Option<Directive> {
        match self.then.get(parameter)? {
            Value::Number(n) => n.as_f64().map(Directive::Set),
            Value::Object(bound) => {
                if let Some(min) = bound.get("min").and_then(Value::as_f64) {
                    Some(Directive::AtLeast(min))
                } else {
                    bound
                        .get("max")
                        .and_then(Value::as_f64)
                        .map(Directive::AtMost)
                }
            }
            _ => None,
        }
    }
}

/// Whether an observed value satisfies a condition: equality, or a numeric range
/// `{"min": a, "max": b}` meaning `a ≤ x < b`.
pub fn values_match(seen: &Value, wanted: &Value) -> bool {
    if let Value::Object(range) = wanted {
        let Some(x) = seen.as_f64() else {
            return false;
        };
        let min = range.get("min").and_then(Value::as_f64);
        let max = range.get("max").and_then(Value::as_f64);
        return (min.is_some() || max.is_some())
            && min.is_none_or(|min| x >= min)
            && max.is_none_or(|max| x < max);
    }
    match (seen.as_f64(), wanted.as_f64()) {
        (Some(a), Some(b)) => (a - b).abs() < 1e-9,
        _ => seen == wanted,
    }
}

/// Applies a directive to a value the policy would otherwise use.
pub fn apply(value: f64, directive: Directive) -> f64 {
    match directive {
        Directive::Set(v) => v,
        Directive::AtLeast(min) => value.max(min),
        Directive::AtMost(max) => value.min(max),
    }
}

/// Every rule in every `lucid-rules` block of a prompt.
pub fn parse_rules(prompt: &str) -> Vec<Rule> {
    let mut rules = Vec::new();
    let mut inside = false;
    for line in prompt.lines() {
        let trimmed = line.trim();
        if let Some(tag) = trimmed.strip_prefix("```") {
            inside = !inside && tag.trim() == FENCE_TAG;
            continue;
        }
        if inside && !trimmed.is_empty() {
            if let Ok(rule) = serde_json::from_str::<Rule>(trimmed) {
                rules.push(rule);
            }
        }
    }
    rules
}

/// Renders rules as a fenced block for a prompt.
pub fn render_rules(rules: &[Rule]) -> String {
    let mut out = format!("```{FENCE_TAG}\n");
    for rule in rules {
        // A Rule is maps of JSON values; serializing it cannot fail.
        if let Ok(line) = serde_json::to_string(rule) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    out.push_str("```\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn departures_are_reported_on_a_line_of_their_own() {
        let rule = Rule {
            when: BTreeMap::new(),
            then: BTreeMap::from([("throttle".into(), json!(0.3))]),
            memory: Some("01ABC".into()),
            explore: false,
        };
        let text = format!(
            "I will not fly this.\n{}\nCommitting at 80%.",
            override_line(&rule, "all 6 simulations\ncrash")
        );
        assert_eq!(
            parse_overrides(&text),
            vec![("01ABC".to_string(), "all 6 simulations crash".to_string())]
        );
        assert!(parse_overrides("RULE_OVERRIDDEN because").is_empty());
        assert_eq!(
            parse_overrides("- `RULE_OVERRIDDEN memory=01X evidence=two checks failed`"),
            vec![("01X".to_string(), "two checks failed".to_string())]
        );
    }

    #[test]
    fn ranges_match_numbers_within_their_bounds() {
        let rule = Rule {
            when: BTreeMap::from([
                ("terrain".into(), json!("dune")),
                ("orbital_slope_deg".into(), json!({"min": 2.5, "max": 5})),
            ]),
            then: BTreeMap::from([("avoid".into(), json!(true))]),
            memory: None,
            explore: false,
        };
        let seen = |slope: Value| {
            BTreeMap::from([
                ("terrain".to_string(), json!("dune")),
                ("orbital_slope_deg".to_string(), slope),
            ])
        };
        assert!(rule.applies(&seen(json!(2.5))));
        assert!(rule.applies(&seen(json!(4.9))));
        assert!(!rule.applies(&seen(json!(5.0))));
        assert!(!rule.applies(&seen(json!(1.0))));
        assert!(!rule.applies(&seen(json!("steep"))));
        // An empty range object matches nothing rather than everything.
        assert!(!values_match(&json!(3), &json!({})));
        assert!(values_match(&json!(3), &json!({"max": 3.5})));
    }

    #[test]
    fn rules_round_trip_through_a_prompt() {
        let rules = vec![
            Rule {
                when: BTreeMap::from([("terrain".into(), json!("ridged"))]),
                then: BTreeMap::from([("avoid".into(), json!(true))]),
                memory: None,
                explore: false,
            },
            Rule {
                when: BTreeMap::from([("terrain".into(), json!("dune"))]),
                then: BTreeMap::from([("burn_margin_m".into(), json!({"min": 150}))]),
                memory: Some("01M".into()),
                explore: false,
            },
        ];
        let prompt = format!(
            "You are the navigator.\n\n## Playbook\nBe careful.\n{}\n```json\n{{\"when\":{{}},\"then\":{{\"x\":1}}}}\n```\n",
            render_rules(&rules)
        );
        assert_eq!(parse_rules(&prompt), rules);
    }

    #[test]
    fn conditions_and_directives() {
        let rule: Rule = serde_json::from_value(json!({
            "when": {"terrain": "dune", "verified": true},
            "then": {"burn_margin_m": {"min": 150}, "avoid": false, "survey": "low_pass"}
        }))
        .unwrap();
        let mut seen = BTreeMap::from([("terrain".to_string(), json!("dune"))]);
        assert!(!rule.applies(&seen), "an unobserved feature does not match");
        seen.insert("verified".into(), json!(true));
        assert!(rule.applies(&seen));
        assert_eq!(
            rule.number("burn_margin_m"),
            Some(Directive::AtLeast(150.0))
        );
        assert_eq!(apply(90.0, Directive::AtLeast(150.0)), 150.0);
        assert_eq!(apply(190.0, Directive::AtLeast(150.0)), 190.0);
        assert_eq!(rule.flag("avoid"), Some(false));
        assert_eq!(rule.word("survey"), Some("low_pass"));
    }

    #[test]
    fn garbled_lines_are_skipped() {
        let prompt = "```lucid-rules\nnot json\n{\"then\": {\"avoid\": true}}\n```";
        assert_eq!(parse_rules(prompt).len(), 1);
    }
}

//! Observations and chosen arguments: what an iteration's tools reported before the team
//! made its first declared choice, and the values the team chose.
//!
//! A session file names the tool arguments that record what the team chose
//! (`[dreaming] choices = ["deploy.strategy"]`, recorded as a `ChoicesDeclared` event).
//! Within an iteration:
//! - **the cut** is the first call of a tool one of those choices belongs to. A rule's
//!   condition must be something the team could check before choosing, so only what
//!   came back before the cut is an observation; what came back after it (a health
//!   check after a deploy, a test run after an edit) measures the result and could make
//!   rules that are true by definition. An iteration that never reached the cut has no
//!   observations: nothing tells what in it was seen before acting.
//! - **observations** are the top-level scalar fields of JSON object results (an MCP
//!   server's structured answer, a `[tools]` command that prints JSON), named `TOOL.FIELD`
//!   (`probe.load`). A field two calls reported with different values says nothing
//!   about the iteration as a whole and is dropped; text results, nested values, long
//!   strings, field names or strings with unusual characters, error results and the
//!   answers of delegated agents and advisors (`delegate`, `ask_advisor`: the team's
//!   own words) are not observations.
//! - **what the cut does not see**: a tool other than a declared choice's may act too
//!   (a `shell` command that edits files); what came back after such a call and before
//!   the cut still counts. Conditions are tested on each mission's first attempt only,
//!   where nothing earlier acted; a retry's observations (its folder carries the
//!   earlier attempt's work) are read only for remedies and evidence.
//! - **chosen values** are the declared arguments of the calls, named `TOOL.ARGUMENT`,
//!   kept when every call of the iteration chose the same value.
//!
//! Everything is bounded: results past [`MAX_RESULT_BYTES`] are not parsed, and an
//! iteration keeps at most [`MAX_OBSERVATIONS`] observations.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use crate::sandbox::CommandOutput;

/// The largest tool result parsed for observations.
pub const MAX_RESULT_BYTES: usize = 64 * 1024;
/// The most observations one iteration keeps.
pub const MAX_OBSERVATIONS: usize = 64;
/// The longest string value (and field name) kept: longer ones are prose or ids, not
/// conditions.
const MAX_VALUE_CHARS: usize = 64;
/// Tools whose results are other agents' words, not observations of the world: a
/// specialist's JSON answer is the team's own decision.
const ORCHESTRATION: [&str; 2] = [crate::spec::DELEGATE_TOOL, crate::spec::ADVISOR_TOOL];

/// Scalar values by name, a name whose values disagree dropped for good.
#[derive(Debug, Default)]
struct Agreed {
    values: BTreeMap<String, Value>,
    conflicting: BTreeSet<String>,
}

impl Agreed {
    fn record(&mut self, name: String, value: &Value) {
        if !scalar(value) || self.conflicting.contains(&name) {
            return;
        }
        match self.values.get(&name) {
            Some(before) if before != value => {
                self.values.remove(&name);
                self.conflicting.insert(name);
            }
            Some(_) => {}
            None if self.values.len() < MAX_OBSERVATIONS => {
                self.values.insert(name, value.clone());
            }
            None => {}
        }
    }
}

/// One iteration's observations and chosen values, gathered call by call.
#[derive(Debug)]
pub struct Observer {
    /// The declared choices, `TOOL.ARGUMENT`.
    choices: Vec<String>,
    seen: Agreed,
    chosen: Agreed,
    /// The team has made a declared choice: later results are not observations.
    cut: bool,
}

impl Observer {
    pub fn new(choices: Vec<String>) -> Self {
        Observer {
            choices,
            seen: Agreed::default(),
            chosen: Agreed::default(),
            cut: false,
        }
    }

    /// Reads one tool call: a call of a tool a declared choice belongs to is the cut,
    /// and the declared arguments it sets are chosen values.
    pub fn called(&mut self, tool: &str, input: &Value) {
        for choice in &self.choices {
            // Tool names have no dots; an argument's name may.
            let Some((owner, argument)) = choice.split_once('.') else {
                continue;
            };
            if owner != tool {
                continue;
            }
            self.cut = true;
            if let Some(value) = input.get(argument) {
                self.chosen.record(choice.clone(), value);
            }
        }
    }

    /// Reads one tool result: before the cut, the scalar fields of a JSON object (the
    /// whole result, or what a command of `[tools]` printed).
    pub fn returned(&mut self, tool: &str, output: &str, is_error: bool) {
        if self.cut || is_error || output.len() > MAX_RESULT_BYTES || ORCHESTRATION.contains(&tool)
        {
            return;
        }
        let output = CommandOutput::stdout_of(output).unwrap_or(output).trim();
        if !output.starts_with('{') {
            return;
        }
        if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(output) {
            self.fields(tool, &fields);
        }
    }

    fn fields(&mut self, tool: &str, fields: &Map<String, Value>) {
        for (field, value) in fields.iter().filter(|(field, _)| plain_name(field)) {
            self.seen.record(format!("{tool}.{field}"), value);
        }
    }

    /// The iteration's observations (none if it never reached the cut) and chosen
    /// values.
    pub fn finish(self) -> (BTreeMap<String, Value>, BTreeMap<String, Value>) {
        let seen = if self.cut {
            self.seen.values
        } else {
            BTreeMap::new()
        };
        (seen, self.chosen.values)
    }
}

/// A value a rule can name: a number, a boolean, or a short one-line string with no
/// characters that would change how a playbook's text reads (JSON escapes decode to
/// control characters that the tool output's own sanitising never saw).
fn scalar(value: &Value) -> bool {
    match value {
        Value::String(s) => {
            !s.is_empty()
                && s.chars().count() <= MAX_VALUE_CHARS
                && !s.chars().any(|c| c.is_control() || c == '`')
        }
        Value::Bool(_) | Value::Number(_) => true,
        _ => false,
    }
}

/// A field name a rule can carry: ASCII letters, digits, `_`, `-` and `.`, at most
/// [`MAX_VALUE_CHARS`] long.
fn plain_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_VALUE_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn choices() -> Vec<String> {
        vec!["deploy.strategy".to_string()]
    }

    #[test]
    fn only_what_came_back_before_the_first_choice_is_an_observation() {
        let mut observer = Observer::new(choices());
        observer.called("probe", &json!({}));
        observer.returned(
            "probe",
            r#"{"region": "eu", "load": 0.9, "tags": ["a"], "note": ""}"#,
            false,
        );
        observer.returned("probe", "region=us\nplain text", false);
        // A command of `[tools]` that printed JSON.
        observer.returned("status", "exit 0\nstdout:\n{\"queue\": 12}", false);
        observer.returned("fetch", r#"{"status": 500}"#, true);
        observer.returned(
            "fetch",
            &format!(r#"{{"body": "{}"}}"#, "x".repeat(65)),
            false,
        );
        observer.called("deploy", &json!({"strategy": "canary", "service": "api"}));
        // After the choice: a result of acting, not an observation.
        observer.returned("health", r#"{"healthy": false}"#, false);
        let (seen, chosen) = observer.finish();
        assert_eq!(
            seen,
            BTreeMap::from([
                ("probe.load".to_string(), json!(0.9)),
                ("probe.region".to_string(), json!("eu")),
                ("status.queue".to_string(), json!(12)),
            ])
        );
        // Only declared arguments are chosen values.
        assert_eq!(
            chosen,
            BTreeMap::from([("deploy.strategy".to_string(), json!("canary"))])
        );
    }

    #[test]
    fn an_iteration_that_never_chose_has_no_observations_and_conflicts_are_dropped() {
        let mut observer = Observer::new(choices());
        observer.returned("probe", r#"{"region": "eu"}"#, false);
        let (seen, chosen) = observer.finish();
        assert!(seen.is_empty() && chosen.is_empty());

        let mut observer = Observer::new(choices());
        observer.returned("probe", r#"{"region": "eu", "load": 1}"#, false);
        observer.returned("probe", r#"{"region": "us", "load": 1}"#, false);
        observer.called("deploy", &json!({"strategy": "canary"}));
        observer.called("deploy", &json!({"strategy": "rolling"}));
        let (seen, chosen) = observer.finish();
        assert_eq!(seen, BTreeMap::from([("probe.load".to_string(), json!(1))]));
        assert!(chosen.is_empty(), "two different strategies: {chosen:?}");
    }

    #[test]
    fn without_declared_choices_nothing_is_observed() {
        let mut observer = Observer::new(Vec::new());
        observer.returned("probe", r#"{"region": "eu"}"#, false);
        observer.called("deploy", &json!({"strategy": "canary"}));
        let (seen, chosen) = observer.finish();
        assert!(seen.is_empty() && chosen.is_empty());
    }

    #[test]
    fn odd_names_and_values_and_other_agents_answers_are_not_observations() {
        let mut observer = Observer::new(choices());
        let long_key = "k".repeat(65);
        observer.returned(
            "probe",
            &json!({
                "ok": "eu",
                "esc": "a\u{1b}[31mred",
                "tick": "a`b",
                "line": "a\nb",
                long_key: 1,
                "bad key": 2,
                "cpu.load": 0.5,
            })
            .to_string(),
            false,
        );
        observer.returned(crate::spec::DELEGATE_TOOL, r#"{"verdict": "ship"}"#, false);
        observer.called("deploy", &json!({"strategy": "canary"}));
        let (seen, _) = observer.finish();
        assert_eq!(
            seen,
            BTreeMap::from([
                ("probe.cpu.load".to_string(), json!(0.5)),
                ("probe.ok".to_string(), json!("eu")),
            ])
        );
    }

    #[test]
    fn observations_are_bounded() {
        let mut observer = Observer::new(choices());
        let wide: Map<String, Value> = (0..100).map(|i| (format!("f{i}"), json!(i))).collect();
        observer.returned("t", &Value::Object(wide).to_string(), false);
        let huge = format!(r#"{{"a": 1, "pad": "{}"}}"#, " ".repeat(MAX_RESULT_BYTES));
        observer.returned("u", &huge, false);
        observer.called("deploy", &json!({}));
        let (seen, _) = observer.finish();
        assert_eq!(seen.len(), MAX_OBSERVATIONS);
        assert!(!seen.contains_key("u.a"));
    }
}

//! Observations and arguments: the fields of tool results, as candidate conditions
//! beside the facts an environment records, and the arguments of tool calls, where a
//! dream finds the values of the team's declared choices when no fact records them.
//!
//! A tool whose result is a JSON object (an MCP server's structured answer, a command
//! that prints JSON) reports what its agent saw. Each of its top-level scalar fields
//! becomes an observation of the iteration, named `tool.field` (`lookup_user.region`).
//! Only unambiguous readings are kept: a field two calls of the iteration reported with
//! different values says nothing about the iteration as a whole, so it is dropped. Text
//! results, nested values and long strings are not observations. Everything is bounded:
//! results past [`MAX_RESULT_BYTES`] are not parsed, and an iteration keeps at most
//! [`MAX_OBSERVATIONS`].

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The largest tool result parsed for observations.
pub const MAX_RESULT_BYTES: usize = 64 * 1024;
/// The most observations one iteration keeps.
pub const MAX_OBSERVATIONS: usize = 64;
/// The longest string value kept as an observation: longer ones are prose or ids, not
/// conditions.
const MAX_VALUE_CHARS: usize = 64;

/// The observations of one iteration, gathered call by call.
#[derive(Debug, Default)]
pub struct Observer {
    seen: BTreeMap<String, Value>,
    conflicting: BTreeSet<String>,
}

impl Observer {
    /// Reads one tool result.
    pub fn record(&mut self, tool: &str, output: &str, is_error: bool) {
        let output = output.trim();
        if is_error || output.len() > MAX_RESULT_BYTES || !output.starts_with('{') {
            return;
        }
        if let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(output) {
            self.fields(tool, &fields);
        }
    }

    /// Reads one tool call's arguments (already parsed and bounded by the runner).
    pub fn record_arguments(&mut self, tool: &str, input: &Value) {
        if let Value::Object(fields) = input {
            self.fields(tool, fields);
        }
    }

    fn fields(&mut self, tool: &str, fields: &serde_json::Map<String, Value>) {
        for (field, value) in fields {
            if !observable(value) {
                continue;
            }
            let value = value.clone();
            let name = format!("{tool}.{field}");
            if self.conflicting.contains(&name) {
                continue;
            }
            match self.seen.get(&name) {
                Some(before) if *before != value => {
                    self.seen.remove(&name);
                    self.conflicting.insert(name);
                }
                Some(_) => {}
                None if self.seen.len() < MAX_OBSERVATIONS => {
                    self.seen.insert(name, value);
                }
                None => {}
            }
        }
    }

    /// The iteration's observations.
    pub fn finish(self) -> BTreeMap<String, Value> {
        self.seen
    }
}

fn observable(value: &Value) -> bool {
    match value {
        Value::String(s) => !s.is_empty() && s.chars().count() <= MAX_VALUE_CHARS,
        Value::Bool(_) | Value::Number(_) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalar_fields_of_json_results_are_observations_and_conflicts_are_dropped() {
        let mut observer = Observer::default();
        observer.record(
            "lookup",
            r#"{"region": "eu", "tier": 2, "tags": ["a"], "note": ""}"#,
            false,
        );
        observer.record("lookup", r#"{"region": "eu", "tier": 3}"#, false);
        observer.record("shell", "region=us\nplain text", false);
        observer.record("fetch", r#"{"status": 500}"#, true);
        observer.record(
            "fetch",
            &format!(r#"{{"body": "{}"}}"#, "x".repeat(65)),
            false,
        );
        let seen = observer.finish();
        assert_eq!(
            seen,
            BTreeMap::from([("lookup.region".to_string(), json!("eu"))])
        );
    }

    #[test]
    fn arguments_are_read_like_results() {
        let mut observer = Observer::default();
        observer.record_arguments("fetch", &json!({"url": "https://a", "timeout_s": 30}));
        observer.record_arguments("fetch", &json!({"url": "https://b", "timeout_s": 30}));
        assert_eq!(
            observer.finish(),
            BTreeMap::from([("fetch.timeout_s".to_string(), json!(30))])
        );
    }

    #[test]
    fn observations_are_bounded() {
        let mut observer = Observer::default();
        let wide: serde_json::Map<String, Value> =
            (0..100).map(|i| (format!("f{i}"), json!(i))).collect();
        observer.record("t", &Value::Object(wide).to_string(), false);
        assert_eq!(observer.finish().len(), MAX_OBSERVATIONS);
        let mut observer = Observer::default();
        let huge = format!(r#"{{"a": 1, "pad": "{}"}}"#, " ".repeat(MAX_RESULT_BYTES));
        observer.record("t", &huge, false);
        assert!(observer.finish().is_empty());
    }
}

//! Digests: each recorded session boiled down to what a dream mines — its outcome,
//! every iteration's facts and verdicts (read off the session's projection), what its
//! tools reported before the team's first declared choice and the values it chose (see
//! `observe`), what changed between a failing and a passing iteration, tool errors and
//! tool-call sequences.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::observe::Observer;
use crate::event::{Event, EventKind, Facts, Projection, SessionId};

/// One tool call as a digest keeps it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolUse {
    pub agent: String,
    pub tool: String,
    pub is_error: bool,
}

/// One graded iteration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IterationDigest {
    pub iteration: u32,
    pub passed: bool,
    /// Criterion id → passed.
    pub criteria: BTreeMap<String, bool>,
    /// Criterion id → what the grader said must change (failed criteria only).
    pub fixes: BTreeMap<String, String>,
    pub facts: Facts,
    /// What the iteration's tools reported before its first declared choice,
    /// `TOOL.FIELD` → value (see `observe`): candidate conditions beside the facts.
    #[serde(default)]
    pub observations: BTreeMap<String, serde_json::Value>,
    /// The declared tool arguments the iteration chose, `TOOL.ARGUMENT` → value.
    #[serde(default)]
    pub chosen: BTreeMap<String, serde_json::Value>,
    pub tools: Vec<ToolUse>,
    /// Sequence number of the `GradingFinished` event, for citations.
    pub graded_at_seq: u64,
}

impl IterationDigest {
    /// A feature a condition may name: a dotted name (`TOOL.FIELD`) is an observation,
    /// any other a fact. A fact command's JSON fields are dotted too (`NAME.field`), but
    /// they are measured after acting and must never stand in for what a tool reported.
    pub fn feature(&self, name: &str) -> Option<&serde_json::Value> {
        if name.contains('.') {
            self.observations.get(name)
        } else {
            self.facts.get(name)
        }
    }

    /// The value of a choice: a dotted name (`TOOL.ARGUMENT`) is a declared argument the
    /// iteration chose, any other a fact.
    pub fn choice(&self, name: &str) -> Option<&serde_json::Value> {
        if name.contains('.') {
            self.chosen.get(name)
        } else {
            self.facts.get(name)
        }
    }

    /// Every feature and choice of the iteration in one map, as a rule's `when` and
    /// `then` read them: plain names from the facts, dotted ones from the tools.
    pub fn features(&self) -> Facts {
        let mut all: Facts = self
            .facts
            .iter()
            .filter(|(name, _)| !name.contains('.'))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect();
        for (name, value) in self.observations.iter().chain(&self.chosen) {
            all.insert(name.clone(), value.clone());
        }
        all
    }

    pub fn tool_errors(&self) -> usize {
        self.tools.iter().filter(|t| t.is_error).count()
    }

    /// Each agent's tool calls in order, consecutive repeats folded (`simulate×2`).
    pub fn sequence_of(&self, agent: &str) -> Vec<String> {
        let mut out: Vec<(String, u32)> = Vec::new();
        for tool in self.tools.iter().filter(|t| t.agent == agent) {
            match out.last_mut() {
                Some((name, n)) if *name == tool.tool => *n += 1,
                _ => out.push((tool.tool.clone(), 1)),
            }
        }
        out.into_iter()
            .map(|(name, n)| if n > 1 { format!("{name}×{n}") } else { name })
            .collect()
    }
}

/// A whole session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionDigest {
    pub session: SessionId,
    pub team: String,
    pub environment: String,
    pub passed: bool,
    pub iterations: Vec<IterationDigest>,
    /// Memory ids of the playbooks applied to the run.
    pub playbooks: BTreeSet<String>,
    /// For each agent name, the fact names that appear as `name=` in its tool results
    /// or as keys of its tool inputs, and the declared choices (`TOOL.ARGUMENT`) its
    /// calls set: which agent's work a fact or a choice records.
    pub mentions: BTreeMap<String, BTreeSet<String>>,
    /// Departures from playbook rules the team recorded, in order.
    #[serde(default)]
    pub overrides: Vec<RuleOverride>,
    /// The tool arguments the session file declared as the team's choices.
    #[serde(default)]
    pub choices: Vec<String>,
}

/// A departure from a playbook's rule (a `rule_overridden` event).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleOverride {
    pub memory_id: String,
    pub evidence: String,
    /// The iteration it happened in.
    pub iteration: u32,
    pub seq: u64,
}

/// A fact that differs between a failing iteration and the next, which passed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub criterion: String,
    pub fact: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
}

impl SessionDigest {
    /// Folds a session's events: the iterations' verdicts and facts come from the
    /// session's [`Projection`]; the tool calls of each graded iteration and the facts each
    /// agent mentions are gathered alongside. `fact_names` lists the facts whose mentions
    /// to track. `None` for a session that did not finish cleanly or was never graded.
    pub fn from_events(events: &[Event], fact_names: &[String]) -> Option<SessionDigest> {
        let first = events.first()?;
        let mut view = Projection::default();
        // The tool calls before each grading pass finished, one bucket per pass.
        let mut tools: Vec<Vec<ToolUse>> = vec![Vec::new()];
        let mut choices: Vec<String> = Vec::new();
        // What each grading pass's tools observed and chose; the declared choices
        // arrive before any tool call.
        let mut observed = Vec::new();
        let mut observer = Observer::new(Vec::new());
        let mut mentions: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        let mut overrides = Vec::new();
        for event in events {
            view.apply(event);
            let agent = || {
                event
                    .agent
                    .and_then(|id| view.name_of(id))
                    .unwrap_or_default()
                    .to_string()
            };
            match &event.kind {
                EventKind::ChoicesDeclared { choices: declared } => {
                    choices = declared.clone();
                    observer = Observer::new(choices.clone());
                }
                EventKind::ToolCalled { tool, input, .. } => {
                    observer.called(tool, input);
                    if let Some(keys) = input.as_object() {
                        for key in keys.keys().filter(|k| fact_names.contains(k)) {
                            mentions.entry(agent()).or_default().insert(key.clone());
                        }
                        // The agent that sets a declared choice owns a rule about it.
                        for key in keys.keys() {
                            let choice = format!("{tool}.{key}");
                            if choices.contains(&choice) {
                                mentions.entry(agent()).or_default().insert(choice);
                            }
                        }
                    }
                }
                EventKind::ToolReturned {
                    tool,
                    output,
                    is_error,
                    ..
                } => {
                    observer.returned(tool, output, *is_error);
                    let agent = agent();
                    for fact in fact_names {
                        if output.contains(&format!("{fact}=")) {
                            mentions
                                .entry(agent.clone())
                                .or_default()
                                .insert(fact.clone());
                        }
                    }
                    if let Some(bucket) = tools.last_mut() {
                        bucket.push(ToolUse {
                            agent,
                            tool: tool.clone(),
                            is_error: *is_error,
                        });
                    }
                }
                EventKind::RuleOverridden {
                    memory_id,
                    evidence,
                } => overrides.push(RuleOverride {
                    memory_id: memory_id.clone(),
                    evidence: evidence.clone(),
                    iteration: tools.len() as u32,
                    seq: event.seq,
                }),
                EventKind::GradingFinished { .. } => {
                    tools.push(Vec::new());
                    let done = std::mem::replace(&mut observer, Observer::new(choices.clone()));
                    observed.push(done.finish());
                }
                _ => {}
            }
        }
        let finished = view.finish.as_ref()?;
        if finished.error.is_some() {
            return None;
        }
        let iterations: Vec<IterationDigest> = view
            .gradings
            .iter()
            .filter_map(|g| Some((g, g.passed?, g.graded_at_seq?)))
            .zip(tools.into_iter().zip(observed))
            .map(
                |((grading, passed, seq), (tools, (observations, chosen)))| IterationDigest {
                    iteration: grading.iteration,
                    passed,
                    // A criterion the grader could not judge says nothing about the team's
                    // work: it is left out of what dreams mine.
                    criteria: grading
                        .criteria
                        .iter()
                        .filter(|c| c.judged)
                        .map(|c| (c.id.clone(), c.passed))
                        .collect(),
                    fixes: grading
                        .criteria
                        .iter()
                        .filter(|c| c.judged && !c.passed)
                        .map(|c| (c.id.clone(), c.fix.clone()))
                        .collect(),
                    facts: grading.facts.clone(),
                    observations,
                    chosen,
                    tools,
                    graded_at_seq: seq,
                },
            )
            .collect();
        if iterations.is_empty() {
            return None;
        }
        Some(SessionDigest {
            session: first.session,
            team: view.team.clone(),
            environment: view.environment.clone(),
            passed: finished.passed,
            iterations,
            playbooks: view.playbooks.iter().map(|p| p.memory_id.clone()).collect(),
            mentions,
            overrides,
            choices,
        })
    }

    /// What changed between each failing iteration and the next when a criterion went
    /// from failed to passed, over the given facts.
    pub fn fixes_that_worked(&self, facts: &[String]) -> Vec<Change> {
        let mut changes = Vec::new();
        for pair in self.iterations.windows(2) {
            let (before, after) = (&pair[0], &pair[1]);
            for (criterion, passed) in &after.criteria {
                if !passed || before.criteria.get(criterion) != Some(&false) {
                    continue;
                }
                for fact in facts {
                    let (a, b) = (before.facts.get(fact), after.facts.get(fact));
                    if let (Some(a), Some(b)) = (a, b) {
                        if a != b {
                            changes.push(Change {
                                criterion: criterion.clone(),
                                fact: fact.clone(),
                                before: a.clone(),
                                after: b.clone(),
                            });
                        }
                    }
                }
            }
        }
        changes
    }

    /// A few lines a person (or a model dreamer) can read.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "session {} ({}): {} after {} iteration(s)",
            self.session,
            self.environment,
            if self.passed { "passed" } else { "failed" },
            self.iterations.len()
        );
        for it in &self.iterations {
            let failed: Vec<&str> = it
                .criteria
                .iter()
                .filter(|(_, p)| !**p)
                .map(|(c, _)| c.as_str())
                .collect();
            let facts: Vec<String> = it
                .facts
                .iter()
                .map(|(k, v)| format!("{k}={}", compact(v)))
                .collect();
            out.push_str(&format!(
                "\n  iteration {}: {}; tool errors {}; facts {}",
                it.iteration,
                if failed.is_empty() {
                    "passed".to_string()
                } else {
                    format!("failed {}", failed.join(", "))
                },
                it.tool_errors(),
                facts.join(" ")
            ));
            for (label, values) in [("observed", &it.observations), ("chose", &it.chosen)] {
                if !values.is_empty() {
                    let shown: Vec<String> = values
                        .iter()
                        .map(|(k, v)| format!("{k}={}", compact(v)))
                        .collect();
                    out.push_str(&format!("; {label} {}", shown.join(" ")));
                }
            }
        }
        out
    }
}

/// A fact value short enough for a summary line: long arrays (such as per-case records)
/// are shown by their length only.
fn compact(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Array(items) if value.to_string().len() > 200 => {
            format!("[{} items]", items.len())
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The digest of a session made of these events, numbered in order.
    fn digest_of(session: SessionId, kinds: impl IntoIterator<Item = EventKind>) -> SessionDigest {
        let events: Vec<Event> = kinds
            .into_iter()
            .enumerate()
            .map(|(seq, kind)| crate::store::testing::event(session, seq as u64, kind))
            .collect();
        SessionDigest::from_events(&events, &[]).unwrap()
    }

    #[test]
    fn a_criterion_not_judged_is_left_out_of_the_digest() {
        use crate::store::testing::{finished, graded, started};
        let session = SessionId::generate();
        let judged = |criterion: &str, judged: bool| EventKind::CriterionJudged {
            iteration: 1,
            criterion: criterion.into(),
            passed: false,
            reason: "r".into(),
            fix: "f".into(),
            judged,
        };
        let kinds = [
            started("t"),
            judged("soft_landing", true),
            judged("grounded", false),
            graded(1, false),
            finished(false, None),
        ];
        let digest = digest_of(session, kinds);
        let iteration = &digest.iterations[0];
        assert_eq!(
            iteration.criteria.keys().collect::<Vec<_>>(),
            ["soft_landing"]
        );
        assert_eq!(iteration.fixes.keys().collect::<Vec<_>>(), ["soft_landing"]);
    }

    #[test]
    fn each_attempt_keeps_what_its_tools_reported_before_its_first_declared_choice() {
        use crate::store::testing::{finished, graded, spawned, started};
        let session = SessionId::generate();
        let called = |tool: &str, input: serde_json::Value| EventKind::ToolCalled {
            call_id: "c".into(),
            tool: tool.into(),
            input,
        };
        let returned = |tool: &str, output: &str| EventKind::ToolReturned {
            call_id: "c".into(),
            tool: tool.into(),
            output: output.into(),
            is_error: false,
        };
        let kinds = [
            started("t"),
            EventKind::ChoicesDeclared {
                choices: vec!["deploy.strategy".into()],
            },
            spawned("lead"),
            called("probe", json!({})),
            returned(
                "probe",
                "exit 0\nstdout:\n{\"load\": 0.9, \"region\": \"eu\"}",
            ),
            called("deploy", json!({"strategy": "rolling"})),
            returned("deploy", "exit 0\n(no output)"),
            // After the choice: a result of acting.
            called("health", json!({})),
            returned("health", r#"{"healthy": false}"#),
            graded(1, false),
            called("probe", json!({})),
            returned("probe", r#"{"load": 0.7}"#),
            called("deploy", json!({"strategy": "canary"})),
            graded(2, true),
            finished(true, None),
        ];
        let digest = digest_of(session, kinds);
        assert_eq!(digest.choices, ["deploy.strategy"]);
        let [first, second] = &digest.iterations[..] else {
            panic!("two attempts: {:?}", digest.iterations);
        };
        assert_eq!(
            first.observations,
            BTreeMap::from([
                ("probe.load".to_string(), json!(0.9)),
                ("probe.region".to_string(), json!("eu")),
            ])
        );
        assert_eq!(first.chosen["deploy.strategy"], json!("rolling"));
        // The second attempt starts afresh.
        assert_eq!(
            second.observations,
            BTreeMap::from([("probe.load".to_string(), json!(0.7))])
        );
        assert_eq!(second.choice("deploy.strategy"), Some(&json!("canary")));
        assert_eq!(second.feature("probe.load"), Some(&json!(0.7)));
        assert!(digest.mentions["lead"].contains("deploy.strategy"));
    }

    #[test]
    fn long_arrays_are_summarised_by_length() {
        let many: Vec<serde_json::Value> = (0..50).map(|i| json!({"case": i})).collect();
        assert_eq!(compact(&json!(many)), "[50 items]");
        assert_eq!(compact(&json!([1, 2])), "[1,2]");
        assert_eq!(compact(&json!(0.5)), "0.5");
    }
}

//! Case mining: labelling rules from per-case records.
//!
//! Some environments grade many small cases at once (one per build log, one per
//! document) and reveal, after grading, one record per case: what the agent observed,
//! what it chose and what was true (see [`CaseLearning`]). Session-level facts cannot
//! say which observation means which label; these records can. The miner counts, over
//! every graded iteration of the digested sessions, how often each observed value
//! co-occurs with each true label, and keeps a value as a **signature** of a label when
//! it predicts that label with high precision, on enough cases, from more than one
//! session. Each signature becomes a rule `{"when": {feature: value}, "then": {label:
//! truth}}`; `synth` groups them into one playbook per label.
//!
//! Nothing here knows an environment: the fact, feature and label names come from the
//! environment's declared capabilities, everything else from the recorded data. A
//! signature is never emitted without the support the limits ask for.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::digest::SessionDigest;
use super::mine::Evidence;
use crate::event::SessionId;
use crate::spec::CaseLearning;

/// Thresholds of the case miner.
#[derive(Debug, Clone)]
pub struct CaseLimits {
    /// Fewest cases showing the value with the label.
    pub min_support: u32,
    /// Fewest sessions those cases must come from.
    pub min_sessions: u32,
    /// Share of the cases showing the value whose truth is the label.
    pub min_precision: f64,
    /// Most signatures kept per label (the best supported).
    pub max_per_label: usize,
}

impl Default for CaseLimits {
    fn default() -> Self {
        CaseLimits {
            min_support: 5,
            min_sessions: 2,
            min_precision: 0.95,
            max_per_label: 16,
        }
    }
}

/// An observed value that predicts a label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CasePattern {
    pub environment: String,
    /// The rule feature, e.g. `log_contains`.
    pub feature: String,
    /// The rule label, e.g. `cause`.
    pub label: String,
    /// The observed value, e.g. `Killed process`.
    pub value: String,
    /// The label it predicts, e.g. `oom`.
    pub truth: String,
    /// Cases that showed the value and had this truth.
    pub support: u32,
    /// Cases that showed the value.
    pub observed: u32,
    /// Of the supporting cases, how many the team labelled wrongly.
    pub mistakes: u32,
    /// Sessions the supporting cases came from.
    pub sessions: u32,
    /// One graded iteration per supporting session.
    pub evidence: Vec<Evidence>,
}

impl CasePattern {
    pub fn precision(&self) -> f64 {
        f64::from(self.support) / f64::from(self.observed.max(1))
    }
}

#[derive(Default)]
struct Tally {
    observed: u32,
    /// truth → (support, mistakes, sessions, evidence)
    truths: BTreeMap<String, (u32, u32, BTreeSet<SessionId>, Vec<Evidence>)>,
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// Mines the case records of one environment kind's digests.
pub fn mine_cases(
    environment: &str,
    digests: &[&SessionDigest],
    learning: &CaseLearning,
    limits: &CaseLimits,
) -> Vec<CasePattern> {
    let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
    for digest in digests {
        for iteration in &digest.iterations {
            let Some(Value::Array(records)) = iteration.facts.get(&learning.fact) else {
                continue;
            };
            for record in records {
                let Some(truth) = record.get("truth").and_then(Value::as_str) else {
                    continue;
                };
                if truth.is_empty() {
                    continue;
                }
                let chosen = record.get("chosen").and_then(Value::as_str).unwrap_or("");
                let mut observed = strings(record.get("observed"));
                observed.sort_unstable();
                observed.dedup();
                for value in observed.into_iter().filter(|v| !v.trim().is_empty()) {
                    let tally = tallies.entry(value.to_string()).or_default();
                    tally.observed += 1;
                    let (support, mistakes, sessions, evidence) =
                        tally.truths.entry(truth.to_string()).or_default();
                    *support += 1;
                    if chosen != truth {
                        *mistakes += 1;
                    }
                    if sessions.insert(digest.session) {
                        evidence.push(Evidence {
                            session: digest.session,
                            iteration: iteration.iteration,
                            seq: iteration.graded_at_seq,
                            passed: iteration.passed,
                            choice_value: Some(Value::from(chosen)),
                        });
                    }
                }
            }
        }
    }
    let mut found: Vec<CasePattern> = Vec::new();
    for (value, tally) in tallies {
        let best = tally
            .truths
            .into_iter()
            .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then_with(|| b.0.cmp(&a.0)));
        let Some((truth, (support, mistakes, sessions, evidence))) = best else {
            continue;
        };
        let pattern = CasePattern {
            environment: environment.to_string(),
            feature: learning.feature.clone(),
            label: learning.label.clone(),
            value,
            truth,
            support,
            observed: tally.observed,
            mistakes,
            sessions: sessions.len() as u32,
            evidence,
        };
        if pattern.support >= limits.min_support.max(1)
            && pattern.sessions >= limits.min_sessions.max(1)
            && pattern.precision() >= limits.min_precision
        {
            found.push(pattern);
        }
    }
    // Best supported first within each label; keep the strongest few.
    found.sort_by(|a, b| {
        a.truth
            .cmp(&b.truth)
            .then(b.support.cmp(&a.support))
            .then(a.value.cmp(&b.value))
    });
    let mut per_label: BTreeMap<String, usize> = BTreeMap::new();
    found.retain(|p| {
        let kept = per_label.entry(p.truth.clone()).or_default();
        *kept += 1;
        *kept <= limits.max_per_label
    });
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dream::digest::IterationDigest;
    use crate::event::Facts;
    use serde_json::json;

    fn learning() -> CaseLearning {
        CaseLearning {
            fact: "cases".into(),
            feature: "shows".into(),
            label: "kind".into(),
        }
    }

    pub(crate) fn digest(records: Value) -> SessionDigest {
        let mut facts = Facts::new();
        facts.insert("cases".into(), records);
        SessionDigest {
            session: SessionId::generate(),
            team: "t".into(),
            environment: "e".into(),
            passed: false,
            iterations: vec![IterationDigest {
                iteration: 1,
                passed: false,
                criteria: BTreeMap::new(),
                fixes: BTreeMap::new(),
                facts,
                tools: Vec::new(),
                graded_at_seq: 7,
            }],
            playbooks: BTreeSet::new(),
            mentions: BTreeMap::new(),
        }
    }

    fn record(observed: &[&str], chosen: &str, truth: &str) -> Value {
        json!({"observed": observed, "chosen": chosen, "truth": truth})
    }

    #[test]
    fn a_precise_supported_value_becomes_a_signature_and_noise_does_not() {
        let sessions: Vec<SessionDigest> = (0..3)
            .map(|_| {
                digest(json!([
                    record(&["Killed process", "Compiling"], "network", "oom"),
                    record(&["Killed process", "Compiling"], "oom", "oom"),
                    record(&["no space left", "Compiling"], "disk", "disk"),
                    record(&["Compiling"], "disk", "network"),
                ]))
            })
            .collect();
        let refs: Vec<&SessionDigest> = sessions.iter().collect();
        let found = mine_cases("e", &refs, &learning(), &CaseLimits::default());
        assert_eq!(found.len(), 1, "{found:?}");
        let oom = &found[0];
        assert_eq!(
            (oom.value.as_str(), oom.truth.as_str()),
            ("Killed process", "oom")
        );
        assert_eq!(
            (oom.support, oom.observed, oom.mistakes, oom.sessions),
            (6, 6, 3, 3)
        );
        assert_eq!(oom.evidence.len(), 3);
        assert!(oom.evidence.iter().all(|e| e.seq == 7));
        // "no space left" predicts perfectly but has 3 cases, fewer than 5.
        let lenient = CaseLimits {
            min_support: 3,
            ..CaseLimits::default()
        };
        let found = mine_cases("e", &refs, &learning(), &lenient);
        assert!(found
            .iter()
            .any(|p| p.value == "no space left" && p.truth == "disk"));
        assert!(found.iter().all(|p| p.value != "Compiling"));
    }

    #[test]
    fn nothing_is_emitted_without_support() {
        // One session only, however many cases: the sessions floor holds.
        let one = digest(json!((0..20)
            .map(|_| record(&["Killed process"], "oom", "oom"))
            .collect::<Vec<_>>()));
        let found = mine_cases("e", &[&one], &learning(), &CaseLimits::default());
        assert!(found.is_empty(), "{found:?}");
        // Limits of zero still require one supporting case; empty or malformed
        // records support nothing.
        let zero = CaseLimits {
            min_support: 0,
            min_sessions: 0,
            min_precision: 0.0,
            max_per_label: 16,
        };
        let junk = digest(
            json!([{"observed": ["x"]}, {"truth": ""}, 3, {"observed": [], "truth": "oom"}]),
        );
        assert!(mine_cases("e", &[&junk], &learning(), &zero).is_empty());
        let absent = digest(json!("not an array"));
        assert!(mine_cases("e", &[&absent], &learning(), &zero).is_empty());
        // Every emitted pattern meets every floor.
        let mixed: Vec<SessionDigest> = (0..4)
            .map(|i| {
                digest(json!([
                    record(&["a", "b"], "x", "x"),
                    record(&["a"], "y", if i % 2 == 0 { "x" } else { "y" }),
                    record(&["c"], "y", "y"),
                ]))
            })
            .collect();
        let refs: Vec<&SessionDigest> = mixed.iter().collect();
        let limits = CaseLimits {
            min_support: 3,
            ..CaseLimits::default()
        };
        for p in mine_cases("e", &refs, &learning(), &limits) {
            assert!(
                p.support >= 3 && p.sessions >= 2 && p.precision() >= 0.95,
                "{p:?}"
            );
            assert!(p.value != "a", "a is split between x and y");
        }
    }
}

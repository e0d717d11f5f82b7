//! Case mining: labelling rules from the grader's per-case verdicts.
//!
//! Some environments grade many small cases at once (one per build log, one per
//! document) and reveal, after grading, one record per case: what the agent observed,
//! the label it chose, and the grader's verdict on that choice — `right` or `wrong`,
//! with its reason (see [`CaseLearning`]). The case's true label is never in the record;
//! a verdict settles only whether the chosen label was it. Session-level facts cannot
//! say which observation means which label; these verdicts can.
//!
//! For every observed value and every label the team chose on cases showing it, the
//! miner counts, over every graded iteration of the digested sessions, the cases judged
//! right under that label (they confirm it) against the cases that rule it out: judged
//! right under another label, or judged wrong under this one. A case labelled
//! otherwise and judged wrong is consistent with the label but settles nothing, so it
//! is counted apart. A value is kept as a **signature** of a label when the confirming
//! cases are enough, come from more than one session, and almost no settled case rules
//! the label out. Each signature becomes a rule `{"when": {feature: value}, "then":
//! {label: value}}`; `synth` groups them into one playbook per label.
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
    /// Fewest cases showing the value judged right under the label.
    pub min_support: u32,
    /// Fewest sessions those cases must come from.
    pub min_sessions: u32,
    /// Share of the settled cases showing the value that confirm the label.
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

/// An observed value that predicts a label, by the grader's verdicts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CasePattern {
    pub environment: String,
    /// The rule feature, e.g. `log_contains`.
    pub feature: String,
    /// The rule label, e.g. `cause`.
    pub label: String,
    /// The observed value, e.g. `Killed process`.
    pub value: String,
    /// The label it predicts, e.g. `oom`: the one the grader confirmed (judged right)
    /// on cases showing the value. Never read from a hidden label.
    pub truth: String,
    /// Cases that showed the value, were labelled `truth` and judged right.
    pub support: u32,
    /// Cases that showed the value whose verdict settles whether `truth` is their
    /// label: `support` plus those judged right under another label or judged wrong
    /// under `truth`.
    pub observed: u32,
    /// Cases that showed the value, were labelled otherwise and judged wrong: the
    /// team's mistakes a rule would have prevented, if the label is what they were.
    pub mistakes: u32,
    /// Sessions the supporting cases came from.
    pub sessions: u32,
    /// One graded iteration per supporting session.
    pub evidence: Vec<Evidence>,
}

impl CasePattern {
    /// Share of the settled cases showing the value that confirm the label.
    pub fn precision(&self) -> f64 {
        f64::from(self.support) / f64::from(self.observed.max(1))
    }
}

/// The verdicts of one observed value's cases.
#[derive(Default)]
struct Tally {
    /// label → (cases judged right under it, their sessions, evidence)
    right: BTreeMap<String, (u32, BTreeSet<SessionId>, Vec<Evidence>)>,
    /// label → cases judged wrong under it
    wrong: BTreeMap<String, u32>,
}

fn strings(value: Option<&Value>) -> Vec<&str> {
    match value {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

/// The verdict of a record: `Some(true)` for right, `Some(false)` for wrong, `None`
/// when it has none the miner understands.
fn verdict(record: &Value) -> Option<bool> {
    match record.get("verdict").and_then(Value::as_str)? {
        "right" => Some(true),
        "wrong" => Some(false),
        _ => None,
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
                let chosen = record.get("chosen").and_then(Value::as_str).unwrap_or("");
                // A case without a choice or a verdict teaches nothing about a label.
                let Some(right) = verdict(record).filter(|_| !chosen.trim().is_empty()) else {
                    continue;
                };
                let mut observed = strings(record.get("observed"));
                observed.sort_unstable();
                observed.dedup();
                for value in observed.into_iter().filter(|v| !v.trim().is_empty()) {
                    let tally = tallies.entry(value.to_string()).or_default();
                    if !right {
                        *tally.wrong.entry(chosen.to_string()).or_default() += 1;
                        continue;
                    }
                    let (support, sessions, evidence) =
                        tally.right.entry(chosen.to_string()).or_default();
                    *support += 1;
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
        let confirmed: u32 = tally.right.values().map(|(n, _, _)| n).sum();
        let judged_wrong: u32 = tally.wrong.values().sum();
        let best = tally
            .right
            .into_iter()
            .max_by(|a, b| a.1 .0.cmp(&b.1 .0).then_with(|| b.0.cmp(&a.0)));
        let Some((label, (support, sessions, evidence))) = best else {
            continue;
        };
        let wrong_here = tally.wrong.get(&label).copied().unwrap_or(0);
        let pattern = CasePattern {
            environment: environment.to_string(),
            feature: learning.feature.clone(),
            label: learning.label.clone(),
            value,
            support,
            observed: confirmed + wrong_here,
            mistakes: judged_wrong.saturating_sub(wrong_here),
            truth: label,
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
                observations: Default::default(),
                chosen: Default::default(),
            }],
            playbooks: BTreeSet::new(),
            mentions: BTreeMap::new(),
            overrides: Vec::new(),
            choices: Vec::new(),
        }
    }

    /// A record as an environment reveals it: what was seen, what was chosen, and the
    /// grader's verdict — never the true label.
    fn record(observed: &[&str], chosen: &str, right: bool) -> Value {
        json!({
            "observed": observed,
            "chosen": chosen,
            "verdict": if right { "right" } else { "wrong" },
            "reason": "the grader's words",
        })
    }

    #[test]
    fn a_value_confirmed_under_one_label_and_never_ruled_out_becomes_a_signature() {
        let sessions: Vec<SessionDigest> = (0..3)
            .map(|_| {
                digest(json!([
                    // "Killed process": judged wrong as network, right as oom.
                    record(&["Killed process", "Compiling"], "network", false),
                    record(&["Killed process", "Compiling"], "oom", true),
                    record(&["Killed process", "Compiling"], "oom", true),
                    record(&["no space left", "Compiling"], "disk", true),
                    // "Compiling" is confirmed under several labels: noise.
                    record(&["Compiling"], "network", true),
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
        // 6 confirmed; the 3 judged wrong as network settle nothing about oom.
        assert_eq!(
            (oom.support, oom.observed, oom.mistakes, oom.sessions),
            (6, 6, 3, 3)
        );
        assert_eq!(oom.evidence.len(), 3);
        assert!(oom.evidence.iter().all(|e| e.seq == 7));
        assert!(oom
            .evidence
            .iter()
            .all(|e| e.choice_value == Some(json!("oom"))));
        // "no space left" is confirmed every time but only on 3 cases, fewer than 5.
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
    fn signatures_from_verdicts_become_one_rules_playbook_per_label() {
        let sessions: Vec<SessionDigest> = (0..3)
            .map(|_| {
                digest(json!([
                    record(&["Killed process"], "oom", true),
                    record(&["Killed process"], "oom", true),
                    record(&["Killed process"], "disk", false),
                ]))
            })
            .collect();
        let refs: Vec<&SessionDigest> = sessions.iter().collect();
        let found = mine_cases("e", &refs, &learning(), &CaseLimits::default());
        let drafts = crate::dream::synth::case_drafts(&found);
        assert_eq!(drafts.len(), 1);
        let draft = &drafts[0];
        assert_eq!(draft.title, "Failure signatures of kind oom");
        // The rule format policies read: when the feature shows the value, the label.
        assert_eq!(
            serde_json::to_value(&draft.rules).unwrap(),
            json!([{"when": {"shows": "Killed process"}, "then": {"kind": "oom"}}])
        );
        assert!(
            draft
                .body
                .contains("judged right as `oom` 6 times in 3 sessions; ruled out 0 times")
                && draft
                    .body
                    .contains("labelled otherwise and judged wrong 3 times"),
            "{}",
            draft.body
        );
        assert_eq!(draft.citations.len(), 3);
    }

    #[test]
    fn wrong_verdicts_under_a_label_rule_it_out() {
        // A red herring the team keeps reading as network: right when the case really
        // was network, wrong otherwise. Only verdicts tell the two apart.
        let sessions: Vec<SessionDigest> = (0..4)
            .map(|_| {
                digest(json!([
                    record(&["retrying mirror"], "network", true),
                    record(&["retrying mirror"], "network", true),
                    record(&["retrying mirror"], "network", false),
                ]))
            })
            .collect();
        let refs: Vec<&SessionDigest> = sessions.iter().collect();
        let found = mine_cases("e", &refs, &learning(), &CaseLimits::default());
        assert!(found.is_empty(), "{found:?}");
        // The same cases all judged right make it a signature.
        let clean: Vec<SessionDigest> = (0..4)
            .map(|_| {
                digest(json!([
                    record(&["retrying mirror"], "network", true),
                    record(&["retrying mirror"], "network", true),
                ]))
            })
            .collect();
        let refs: Vec<&SessionDigest> = clean.iter().collect();
        let found = mine_cases("e", &refs, &learning(), &CaseLimits::default());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!((found[0].support, found[0].observed), (8, 8));
    }

    #[test]
    fn a_label_is_never_read_from_a_truth_field() {
        // Records that carry a true label but no verdict teach nothing.
        let labelled: Vec<SessionDigest> = (0..4)
            .map(|_| {
                digest(json!((0..10)
                    .map(|_| json!({"observed": ["Killed process"], "chosen": "network", "truth": "oom"}))
                    .collect::<Vec<_>>()))
            })
            .collect();
        let refs: Vec<&SessionDigest> = labelled.iter().collect();
        let zero = CaseLimits {
            min_support: 0,
            min_sessions: 0,
            min_precision: 0.0,
            max_per_label: 16,
        };
        assert!(mine_cases("e", &refs, &learning(), &zero).is_empty());
    }

    #[test]
    fn nothing_is_emitted_without_support() {
        // One session only, however many cases: the sessions floor holds.
        let one = digest(json!((0..20)
            .map(|_| record(&["Killed process"], "oom", true))
            .collect::<Vec<_>>()));
        let found = mine_cases("e", &[&one], &learning(), &CaseLimits::default());
        assert!(found.is_empty(), "{found:?}");
        // Limits of zero still require one confirming case; empty or malformed
        // records, records without a choice and unknown verdicts support nothing.
        let zero = CaseLimits {
            min_support: 0,
            min_sessions: 0,
            min_precision: 0.0,
            max_per_label: 16,
        };
        let junk = digest(json!([
            {"observed": ["x"]},
            {"verdict": "right"},
            3,
            {"observed": [], "chosen": "oom", "verdict": "right"},
            {"observed": ["y"], "chosen": "", "verdict": "right"},
            {"observed": ["z"], "chosen": "oom", "verdict": "maybe"},
            {"observed": ["w"], "chosen": "oom", "verdict": "wrong"},
        ]));
        assert!(mine_cases("e", &[&junk], &learning(), &zero).is_empty());
        let absent = digest(json!("not an array"));
        assert!(mine_cases("e", &[&absent], &learning(), &zero).is_empty());
        // Every emitted pattern meets every floor.
        let mixed: Vec<SessionDigest> = (0..4)
            .map(|i| {
                digest(json!([
                    record(&["a", "b"], "x", true),
                    record(&["a"], if i % 2 == 0 { "x" } else { "y" }, true),
                    record(&["c"], "y", true),
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

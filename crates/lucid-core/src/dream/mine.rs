//! Mining: patterns across many digested sessions, each with its support.
//!
//! Every graded iteration is one data point: the facts the environment reported and
//! each criterion's verdict. The miner looks for
//! - **failure conditions**: an observed fact value (e.g. `terrain = dune`) under which a
//!   criterion fails far more often than elsewhere (one-sided hypergeometric test). Every
//!   condition with enough failures is a test; a condition is kept only when the
//!   Benjamini–Hochberg adjusted p-value over all of the dream's tests is within the
//!   false-discovery rate, so many features never produce chance rules;
//! - **remedies** for each condition: a choice fact whose values separate the passes from
//!   the failures under it (`burn_margin_m ≥ 138`, `survey = low_pass`), or, when none
//!   does, avoiding the condition. A numeric threshold is the passing value nearest the
//!   failures;
//! - **workflows** successful iterations share (an agent's tool-call sequence);
//! - **feedback the grader repeats** across sessions.
//!
//! Nothing here knows any environment: the observed and chosen facts come from the
//! environment's declared capabilities, everything else from the data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cases::CasePattern;
use super::digest::{IterationDigest, SessionDigest};
use super::stats::bh_adjust;
use crate::event::SessionId;

pub use super::stats::hypergeometric_tail;

/// Thresholds of the miner.
#[derive(Debug, Clone)]
pub struct MiningLimits {
    /// Fewest failures under a condition before it is a pattern.
    pub min_failures: u32,
    /// Fewest distinct missions (digested sessions: the dream keeps one run per mission)
    /// those failures must come from: one mission, however often it failed, is one
    /// observation of its own circumstances, not a pattern.
    pub min_missions: u32,
    /// Highest p-value of the condition's failure excess.
    pub max_p_value: f64,
    /// Highest false-discovery rate over all of a dream's tests (Benjamini–Hochberg).
    pub max_fdr: f64,
    /// Fewest passes under a condition that a remedy must rest on.
    pub min_remedy_passes: u32,
    /// Share of the failures a remedy must separate from the passes.
    pub min_separation: f64,
    /// Fewest sessions a repeated request of the grader must come from.
    pub min_feedback_sessions: u32,
}

impl Default for MiningLimits {
    fn default() -> Self {
        MiningLimits {
            min_failures: 3,
            min_missions: 2,
            max_p_value: 0.01,
            max_fdr: 0.05,
            min_remedy_passes: 2,
            min_separation: 0.8,
            min_feedback_sessions: 3,
        }
    }
}

/// One iteration cited as evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub session: SessionId,
    pub iteration: u32,
    pub seq: u64,
    pub passed: bool,
    /// The choice's value in this iteration, when a remedy names one.
    pub choice_value: Option<Value>,
}

/// What to do about a failure condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Remedy {
    /// Passes under the condition all had `choice ≥ threshold`; most failures had less.
    AtLeast {
        choice: String,
        threshold: f64,
        passes: u32,
        separated: u32,
    },
    /// Passes all had `choice ≤ threshold`; most failures had more.
    AtMost {
        choice: String,
        threshold: f64,
        passes: u32,
        separated: u32,
    },
    /// Iterations with `choice = value` passed; most others failed.
    Use {
        choice: String,
        value: Value,
        passes: u32,
        separated: u32,
    },
    /// No choice made a difference: stay away from the condition.
    Avoid,
}

/// A criterion that fails under an observed condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailurePattern {
    pub environment: String,
    pub criterion: String,
    pub feature: String,
    pub value: Value,
    pub failed: u32,
    pub total: u32,
    pub failed_elsewhere: u32,
    pub total_elsewhere: u32,
    pub p_value: f64,
    /// The p-value adjusted for every test of the dream (Benjamini–Hochberg).
    #[serde(default)]
    pub q_value: f64,
    pub remedy: Remedy,
    pub evidence: Vec<Evidence>,
}

/// A tool-call sequence successful iterations share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowPattern {
    pub environment: String,
    pub agent: String,
    pub sequence: Vec<String>,
    pub passing_with: u32,
    pub passing_total: u32,
    pub failing_with: u32,
    pub failing_total: u32,
    pub evidence: Vec<Evidence>,
}

/// Something the grader keeps asking for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedbackPattern {
    pub environment: String,
    pub criterion: String,
    pub request: String,
    pub count: u32,
    pub sessions: u32,
    pub evidence: Vec<Evidence>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Patterns {
    pub failures: Vec<FailurePattern>,
    pub workflows: Vec<WorkflowPattern>,
    pub feedback: Vec<FeedbackPattern>,
    /// Signatures learned from per-case records (see `cases`).
    pub cases: Vec<CasePattern>,
    /// How many failure conditions were tested (the Benjamini–Hochberg `m`).
    #[serde(default)]
    pub tests: u32,
    /// The false-discovery rate the failure conditions were held to.
    #[serde(default)]
    pub fdr: f64,
}

impl Patterns {
    pub fn is_empty(&self) -> bool {
        self.failures.is_empty()
            && self.workflows.is_empty()
            && self.feedback.is_empty()
            && self.cases.is_empty()
    }

    /// How many patterns of every sort.
    pub fn count(&self) -> usize {
        self.failures.len() + self.workflows.len() + self.feedback.len() + self.cases.len()
    }
}

struct Point<'a> {
    session: SessionId,
    iteration: &'a IterationDigest,
}

impl Point<'_> {
    /// The iteration as evidence about `criterion` (`None`: about the whole iteration).
    fn evidence(&self, criterion: Option<&str>, choice: Option<&str>) -> Evidence {
        Evidence {
            session: self.session,
            iteration: self.iteration.iteration,
            seq: self.iteration.graded_at_seq,
            passed: match criterion {
                Some(criterion) => self
                    .iteration
                    .criteria
                    .get(criterion)
                    .copied()
                    .unwrap_or(false),
                None => self.iteration.passed,
            },
            choice_value: choice.and_then(|c| self.iteration.facts.get(c).cloned()),
        }
    }
}

/// Mines the digests of one environment kind.
pub fn mine(
    environment: &str,
    digests: &[&SessionDigest],
    observations: &[String],
    choices: &[String],
    limits: &MiningLimits,
) -> Patterns {
    let points: Vec<Point> = digests
        .iter()
        .flat_map(|d| {
            d.iterations.iter().map(move |it| Point {
                session: d.session,
                iteration: it,
            })
        })
        .collect();
    let mut criteria: Vec<&String> = points
        .iter()
        .flat_map(|p| p.iteration.criteria.keys())
        .collect();
    criteria.sort();
    criteria.dedup();
    let mut patterns = Patterns {
        fdr: limits.max_fdr,
        ..Patterns::default()
    };
    let mut p_values = Vec::new();
    let mut candidates = Vec::new();
    for criterion in criteria {
        candidates.extend(failure_patterns(
            environment,
            criterion,
            &points,
            observations,
            choices,
            limits,
            &mut p_values,
        ));
        if let Some(feedback) = repeated_feedback(environment, criterion, &points, limits) {
            patterns.feedback.push(feedback);
        }
    }
    let q_values = bh_adjust(&p_values);
    patterns.tests = p_values.len() as u32;
    patterns.failures = candidates
        .into_iter()
        .filter_map(|(test, mut pattern)| {
            pattern.q_value = q_values.get(test).copied().unwrap_or(1.0);
            (pattern.q_value <= limits.max_fdr).then_some(pattern)
        })
        .collect();
    patterns.workflows = workflows(environment, &points, limits);
    patterns
}

fn usable(value: &Value) -> bool {
    match value {
        Value::String(s) => !s.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
        _ => false,
    }
}

/// The failure conditions of one criterion that pass the raw p-value cap, each with the
/// index of its test in `p_values` (where every test's p-value is appended).
fn failure_patterns(
    environment: &str,
    criterion: &str,
    points: &[Point],
    observations: &[String],
    choices: &[String],
    limits: &MiningLimits,
    p_values: &mut Vec<f64>,
) -> Vec<(usize, FailurePattern)> {
    let judged: Vec<&Point> = points
        .iter()
        .filter(|p| p.iteration.criteria.contains_key(criterion))
        .collect();
    let fails = |ps: &[&Point]| {
        ps.iter()
            .filter(|p| p.iteration.criteria.get(criterion) == Some(&false))
            .count() as u32
    };
    let total_fails = fails(&judged);
    let mut found = Vec::new();
    for feature in observations {
        let mut values: Vec<&Value> = judged
            .iter()
            .filter_map(|p| p.iteration.facts.get(feature))
            .filter(|v| usable(v))
            .collect();
        values.sort_by_key(|v| v.to_string());
        values.dedup();
        for value in values {
            let (under, elsewhere): (Vec<&Point>, Vec<&Point>) = judged
                .iter()
                .partition(|p| p.iteration.facts.get(feature) == Some(value));
            let (failed, total) = (fails(&under), under.len() as u32);
            let (failed_elsewhere, total_elsewhere) = (fails(&elsewhere), elsewhere.len() as u32);
            if failed < limits.min_failures || total == 0 {
                continue;
            }
            let mut failing_missions: Vec<SessionId> = under
                .iter()
                .filter(|p| p.iteration.criteria.get(criterion) == Some(&false))
                .map(|p| p.session)
                .collect();
            failing_missions.sort();
            failing_missions.dedup();
            if (failing_missions.len() as u32) < limits.min_missions {
                continue;
            }
            // Every condition with enough failures is a test, excess or not.
            let p_value = hypergeometric_tail(judged.len() as u32, total_fails, total, failed);
            let test = p_values.len();
            p_values.push(p_value);
            let rate = f64::from(failed) / f64::from(total);
            let rate_elsewhere = f64::from(failed_elsewhere) / f64::from(total_elsewhere.max(1));
            if rate <= rate_elsewhere || p_value > limits.max_p_value {
                continue;
            }
            let remedy = find_remedy(criterion, &under, choices, limits);
            let choice = match &remedy {
                Remedy::AtLeast { choice, .. }
                | Remedy::AtMost { choice, .. }
                | Remedy::Use { choice, .. } => Some(choice.as_str()),
                Remedy::Avoid => None,
            };
            found.push((
                test,
                FailurePattern {
                    environment: environment.to_string(),
                    criterion: criterion.to_string(),
                    feature: feature.clone(),
                    value: value.clone(),
                    failed,
                    total,
                    failed_elsewhere,
                    total_elsewhere,
                    p_value,
                    q_value: p_value,
                    evidence: under
                        .iter()
                        .map(|p| p.evidence(Some(criterion), choice))
                        .collect(),
                    remedy,
                },
            ));
        }
    }
    found
}

/// The choice that best separates passes from failures under a condition.
fn find_remedy(
    criterion: &str,
    under: &[&Point],
    choices: &[String],
    limits: &MiningLimits,
) -> Remedy {
    let mut best: Option<(f64, u32, Remedy)> = None;
    let mut consider = |score: f64, passes: u32, remedy: Remedy| {
        if best
            .as_ref()
            .is_none_or(|(s, p, _)| (score, passes) > (*s, *p))
        {
            best = Some((score, passes, remedy));
        }
    };
    for choice in choices {
        let with: Vec<(&Value, bool)> = under
            .iter()
            .filter_map(|p| {
                let value = p.iteration.facts.get(choice).filter(|v| usable(v))?;
                Some((value, p.iteration.criteria.get(criterion) == Some(&true)))
            })
            .collect();
        let passes: Vec<&Value> = with.iter().filter(|(_, ok)| *ok).map(|(v, _)| *v).collect();
        let failures: Vec<&Value> = with
            .iter()
            .filter(|(_, ok)| !*ok)
            .map(|(v, _)| *v)
            .collect();
        if (passes.len() as u32) < limits.min_remedy_passes || failures.is_empty() {
            continue;
        }
        let pass_numbers: Option<Vec<f64>> = passes.iter().map(|v| v.as_f64()).collect();
        let fail_numbers: Option<Vec<f64>> = failures.iter().map(|v| v.as_f64()).collect();
        if let (Some(mut ps), Some(fs)) = (pass_numbers, fail_numbers) {
            ps.sort_by(f64::total_cmp);
            let (Some(&low), Some(&high)) = (ps.first(), ps.last()) else {
                continue;
            };
            let below: Vec<f64> = fs.iter().copied().filter(|f| *f < low).collect();
            let above: Vec<f64> = fs.iter().copied().filter(|f| *f > high).collect();
            let n = ps.len() as u32;
            let share = |k: usize| k as f64 / fs.len() as f64;
            if share(below.len()) >= limits.min_separation {
                consider(
                    share(below.len()),
                    n,
                    Remedy::AtLeast {
                        choice: choice.clone(),
                        threshold: low,
                        passes: n,
                        separated: below.len() as u32,
                    },
                );
            }
            if share(above.len()) >= limits.min_separation {
                consider(
                    share(above.len()),
                    n,
                    Remedy::AtMost {
                        choice: choice.clone(),
                        threshold: high,
                        passes: n,
                        separated: above.len() as u32,
                    },
                );
            }
            continue;
        }
        // A categorical choice: one value all passes share, which most failures lack.
        let first = passes[0];
        if passes.iter().all(|v| *v == first) {
            let separated = failures.iter().filter(|v| **v != first).count() as u32;
            let share = f64::from(separated) / failures.len() as f64;
            if share >= limits.min_separation {
                consider(
                    share,
                    passes.len() as u32,
                    Remedy::Use {
                        choice: choice.clone(),
                        value: first.clone(),
                        passes: passes.len() as u32,
                        separated,
                    },
                );
            }
        }
    }
    best.map_or(Remedy::Avoid, |(_, _, remedy)| remedy)
}

fn workflows(environment: &str, points: &[Point], limits: &MiningLimits) -> Vec<WorkflowPattern> {
    let mut agents: Vec<&String> = points
        .iter()
        .flat_map(|p| p.iteration.tools.iter().map(|t| &t.agent))
        .collect();
    agents.sort();
    agents.dedup();
    let passing: Vec<&Point> = points.iter().filter(|p| p.iteration.passed).collect();
    let failing: Vec<&Point> = points.iter().filter(|p| !p.iteration.passed).collect();
    let mut found = Vec::new();
    for agent in agents {
        let mut counts: BTreeMap<Vec<String>, u32> = BTreeMap::new();
        for point in &passing {
            let sequence = point.iteration.sequence_of(agent);
            if !sequence.is_empty() {
                *counts.entry(sequence).or_default() += 1;
            }
        }
        let Some((sequence, passing_with)) = counts
            .into_iter()
            .max_by_key(|(seq, n)| (*n, std::cmp::Reverse(seq.len())))
        else {
            continue;
        };
        let failing_with = failing
            .iter()
            .filter(|p| p.iteration.sequence_of(agent) == sequence)
            .count() as u32;
        let share_passing = f64::from(passing_with) / passing.len().max(1) as f64;
        let share_failing = f64::from(failing_with) / failing.len().max(1) as f64;
        if passing_with < limits.min_feedback_sessions
            || share_passing < 0.6
            || share_passing - share_failing < 0.25
        {
            continue;
        }
        found.push(WorkflowPattern {
            environment: environment.to_string(),
            agent: agent.clone(),
            evidence: passing
                .iter()
                .filter(|p| p.iteration.sequence_of(agent) == sequence)
                .map(|p| p.evidence(None, None))
                .collect(),
            sequence,
            passing_with,
            passing_total: passing.len() as u32,
            failing_with,
            failing_total: failing.len() as u32,
        });
    }
    found
}

/// The grader's most repeated request for a criterion, with the values it quoted cut
/// off ("… (it was 4.31)").
fn repeated_feedback(
    environment: &str,
    criterion: &str,
    points: &[Point],
    limits: &MiningLimits,
) -> Option<FeedbackPattern> {
    let mut requests: BTreeMap<String, Vec<&Point>> = BTreeMap::new();
    for point in points {
        if let Some(fix) = point.iteration.fixes.get(criterion) {
            for part in fix.split("; ").filter(|p| !p.trim().is_empty()) {
                let request = part
                    .split(" (it was")
                    .next()
                    .unwrap_or(part)
                    .trim()
                    .to_string();
                requests.entry(request).or_default().push(point);
            }
        }
    }
    let (request, cited) = requests.into_iter().max_by_key(|(_, ps)| ps.len())?;
    let mut sessions: Vec<SessionId> = cited.iter().map(|p| p.session).collect();
    sessions.sort();
    sessions.dedup();
    if (sessions.len() as u32) < limits.min_feedback_sessions {
        return None;
    }
    Some(FeedbackPattern {
        environment: environment.to_string(),
        criterion: criterion.to_string(),
        request,
        count: cited.len() as u32,
        sessions: sessions.len() as u32,
        evidence: cited
            .iter()
            .map(|p| p.evidence(Some(criterion), None))
            .collect(),
    })
}

#[cfg(test)]
#[path = "mine_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "mine_fdr_tests.rs"]
mod fdr_tests;

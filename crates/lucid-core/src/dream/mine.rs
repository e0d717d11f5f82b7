//! Mining: patterns across many digested sessions, each with its support.
//!
//! **A mission is one draw.** A failure condition is tested on each mission's first
//! attempt: retries are not independent of the attempt they revise, so counting them
//! would let one stubborn mission pose as many. Every attempt is still read for what to
//! do about a condition (its remedy), why (its mechanism) and the evidence cited. The
//! miner looks for
//! - **failure conditions**: a condition on any recorded fact that is neither a choice
//!   nor a result (see `conditions`: `terrain = dune`, `orbital_slope_deg ≥ 5.1`) under
//!   which a criterion fails at the first attempt far more often than elsewhere
//!   (one-sided hypergeometric test), among the missions that recorded its feature (one
//!   that never did says nothing either way). Every condition with enough missions under
//!   it is a test, whatever its outcome, so the count does not flatter the data. Of
//!   those, the tests whose margins allow a p-value small enough to matter form the
//!   family (see `stats::testable_family`), and a condition is kept only when its
//!   Benjamini–Hochberg adjusted p-value over that family (all criteria, all
//!   environments) is within the false-discovery rate;
//! - **combinations**: each kept condition is then refined by every condition on another
//!   feature (`terrain = dune` and `orbital_slope_deg ≥ 5.1`), tested within the kept
//!   condition's missions, each family filtered like the singles and held to the
//!   selection-adjusted level α·R/m (Benjamini–Bogomolov); a refinement that
//!   concentrates the failures replaces the condition;
//! - **remedies** for each condition (see `remedy`), and what else differs under it
//!   (see `mechanism`), from every attempt under it;
//! - **workflows** and **feedback the grader repeats** (see `habits`).
//!
//! Nothing here knows any environment: which facts are choices and which are results
//! come from the environment's declared capabilities, and the tool arguments that are
//! choices from the session files (`[dreaming] choices`); every other fact, and every
//! observation of the tools' results before the team's first declared choice (see
//! `observe`), is a candidate.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cases::CasePattern;
use super::conditions::{conditions, Condition};
use super::digest::{IterationDigest, SessionDigest};
pub use super::mechanism::Mechanism;
use super::stats::{bh_adjust, min_attainable_p, testable_family};
use super::{habits, mechanism, remedy};
use crate::event::SessionId;
use crate::spec::EnvironmentCapabilities;

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

impl Remedy {
    /// The choice the remedy sets, if it sets one.
    pub fn choice(&self) -> Option<&str> {
        match self {
            Remedy::AtLeast { choice, .. }
            | Remedy::AtMost { choice, .. }
            | Remedy::Use { choice, .. } => Some(choice),
            Remedy::Avoid => None,
        }
    }
}

/// A criterion that fails under an observed condition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FailurePattern {
    pub environment: String,
    pub criterion: String,
    pub feature: String,
    pub value: Value,
    /// Missions whose first attempt was under the condition and failed the criterion.
    pub failed: u32,
    /// Missions whose first attempt was under the condition.
    pub total: u32,
    pub failed_elsewhere: u32,
    pub total_elsewhere: u32,
    pub p_value: f64,
    /// The p-value adjusted over the dream's family of tests (Benjamini–Hochberg).
    #[serde(default)]
    pub q_value: f64,
    pub remedy: Remedy,
    pub evidence: Vec<Evidence>,
    /// Every condition of the pattern, `feature = value` first; a second one when a
    /// combination explains the failures better than the first alone.
    #[serde(default)]
    pub when: BTreeMap<String, Value>,
    /// What else the data shows differs under the condition.
    #[serde(default)]
    pub mechanism: Option<Mechanism>,
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
    /// How many failure conditions were tested.
    #[serde(default)]
    pub tests: u32,
    /// How many of them could reach significance at all: the family the
    /// Benjamini–Hochberg correction runs over (its `m`).
    #[serde(default)]
    pub testable: u32,
    /// How many combinations refining a discovered condition were considered (before
    /// each family's filter).
    #[serde(default)]
    pub refinements: u32,
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

pub(super) struct Point<'a> {
    pub session: SessionId,
    pub iteration: &'a IterationDigest,
}

impl Point<'_> {
    /// The iteration as evidence about `criterion` (`None`: about the whole iteration).
    pub(super) fn evidence(&self, criterion: Option<&str>, choice: Option<&str>) -> Evidence {
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
            choice_value: choice.and_then(|c| self.iteration.choice(c).cloned()),
        }
    }

    fn fails(&self, criterion: &str) -> bool {
        self.iteration.criteria.get(criterion) == Some(&false)
    }
}

/// What is known of a history's facts and observations: which record the team's choices
/// (declared by the environment kind, or as tool arguments by the session files) and
/// which measure the attempt's result. Every other fact, and every observation made
/// before the team's first declared choice, may be a condition.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    /// Facts the environment declares as the team's choices.
    pub choices: Vec<String>,
    /// Facts the environment declares as the attempt's results.
    pub outcomes: Vec<String>,
    /// Tool arguments (`TOOL.ARGUMENT`) the session files declared as choices.
    pub tool_choices: Vec<String>,
    /// Every fact is measured after the team acted (a folder environment's facts come
    /// from commands run after each attempt), so no fact is a condition: only
    /// observations are.
    pub facts_are_results: bool,
}

impl Vocabulary {
    /// An environment kind's vocabulary, with the tool arguments its sessions declared
    /// as choices.
    pub fn of(capabilities: &EnvironmentCapabilities, digests: &[&SessionDigest]) -> Vocabulary {
        let mut tool_choices: Vec<String> = Vec::new();
        for choice in digests.iter().flat_map(|d| &d.choices) {
            if !tool_choices.contains(choice) {
                tool_choices.push(choice.clone());
            }
        }
        Vocabulary {
            choices: capabilities.choices.clone(),
            outcomes: capabilities.outcomes.clone(),
            tool_choices,
            facts_are_results: capabilities.folder,
        }
    }

    /// Every choice a remedy may set: the environment's and the declared arguments.
    pub fn all_choices(&self) -> Vec<String> {
        self.choices
            .iter()
            .chain(&self.tool_choices)
            .cloned()
            .collect()
    }

    /// Whether facts may be conditions: when the environment itself says which of its
    /// facts are choices and results (one that says nothing would have its result facts
    /// make rules that are true by definition; what a session file declares about tool
    /// arguments says nothing about the facts), and its facts are not all results.
    pub(super) fn facts_may_be_conditions(&self) -> bool {
        let declared = !self.choices.is_empty() || !self.outcomes.is_empty();
        declared && !self.facts_are_results
    }

    /// The names that can never be a condition: choices and results.
    pub(super) fn excluded(&self) -> BTreeSet<&str> {
        self.choices
            .iter()
            .chain(&self.outcomes)
            .chain(&self.tool_choices)
            .map(String::as_str)
            .collect()
    }
}

/// One environment kind's digests and vocabulary.
pub struct Group<'a> {
    pub environment: &'a str,
    pub digests: Vec<&'a SessionDigest>,
    pub vocabulary: Vocabulary,
}

/// A condition's attempts and failures within some set of judged attempts.
#[derive(Debug, Clone, Copy)]
struct Counts {
    failed: u32,
    total: u32,
    failed_elsewhere: u32,
    total_elsewhere: u32,
    missions: u32,
    p_value: f64,
    /// The smallest p-value these margins allow.
    min_p_value: f64,
}

impl Counts {
    fn of(under: &[&Point], within: &[&Point], criterion: &str) -> Counts {
        let fails = |ps: &[&Point]| ps.iter().filter(|p| p.fails(criterion)).count() as u32;
        let (failed, total) = (fails(under), under.len() as u32);
        let (failed_all, total_all) = (fails(within), within.len() as u32);
        let missions = under
            .iter()
            .filter(|p| p.fails(criterion))
            .map(|p| p.session)
            .collect::<BTreeSet<_>>()
            .len() as u32;
        Counts {
            failed,
            total,
            failed_elsewhere: failed_all - failed,
            total_elsewhere: total_all - total,
            missions,
            p_value: hypergeometric_tail(total_all, failed_all, total, failed),
            min_p_value: min_attainable_p(total_all, failed_all, total),
        }
    }

    /// Whether a condition this size, from this many missions, is worth a test: decided
    /// without looking at its verdicts.
    fn testable(under: &[&Point], within: usize, limits: &MiningLimits) -> bool {
        let missions = under
            .iter()
            .map(|p| p.session)
            .collect::<BTreeSet<_>>()
            .len() as u32;
        under.len() as u32 >= limits.min_failures
            && missions >= limits.min_missions
            && under.len() < within
    }

    /// Enough failures, from enough missions, failing more than elsewhere.
    fn is_pattern(&self, limits: &MiningLimits) -> bool {
        let rate = f64::from(self.failed) / f64::from(self.total.max(1));
        let elsewhere = f64::from(self.failed_elsewhere) / f64::from(self.total_elsewhere.max(1));
        self.failed >= limits.min_failures
            && self.missions >= limits.min_missions
            && rate > elsewhere
            && self.p_value <= limits.max_p_value
    }
}

/// One tested condition of the first stage.
struct Test<'a> {
    group: usize,
    criterion: &'a str,
    condition: &'a Condition,
    under: Vec<&'a Point<'a>>,
    judged: Vec<&'a Point<'a>>,
    counts: Counts,
}

/// Each mission's first attempt: the draws failure conditions are tested on.
fn first_attempts<'a>(digests: &[&'a SessionDigest]) -> Vec<Point<'a>> {
    digests
        .iter()
        .filter_map(|d| {
            let first = d.iterations.iter().min_by_key(|it| it.iteration)?;
            Some(Point {
                session: d.session,
                iteration: first,
            })
        })
        .collect()
}

/// Mines the digests of every environment kind of a dream together.
pub fn mine(groups: &[Group], limits: &MiningLimits) -> Patterns {
    let firsts: Vec<Vec<Point>> = groups.iter().map(|g| first_attempts(&g.digests)).collect();
    let points: Vec<Vec<Point>> = groups
        .iter()
        .map(|g| {
            g.digests
                .iter()
                .flat_map(|d| {
                    d.iterations.iter().map(move |it| Point {
                        session: d.session,
                        iteration: it,
                    })
                })
                .collect()
        })
        .collect();
    // Conditions (and the cut points of bands) are read off the first attempts, the
    // draws they are tested on: retries exist only after a failure, so reading them
    // would let verdicts choose the hypotheses.
    let offered: Vec<Vec<Condition>> = groups
        .iter()
        .zip(&firsts)
        .map(|(g, ps)| {
            let iterations: Vec<&IterationDigest> = ps.iter().map(|p| p.iteration).collect();
            conditions(&iterations, &g.vocabulary)
        })
        .collect();
    let mut patterns = Patterns {
        fdr: limits.max_fdr,
        ..Patterns::default()
    };
    let mut tests: Vec<Test> = Vec::new();
    for (index, group) in groups.iter().enumerate() {
        let points = &points[index];
        for criterion in criteria(points) {
            let judged: Vec<&Point> = firsts[index]
                .iter()
                .filter(|p| p.iteration.criteria.contains_key(criterion))
                .collect();
            for condition in &offered[index] {
                let judged: Vec<&Point> = judged
                    .iter()
                    .copied()
                    .filter(|p| condition.observed(p.iteration))
                    .collect();
                let under: Vec<&Point> = judged
                    .iter()
                    .copied()
                    .filter(|p| condition.holds(p.iteration))
                    .collect();
                if !Counts::testable(&under, judged.len(), limits) {
                    continue;
                }
                tests.push(Test {
                    group: index,
                    criterion,
                    condition,
                    counts: Counts::of(&under, &judged, criterion),
                    under,
                    judged,
                });
            }
            if let Some(feedback) =
                habits::repeated_feedback(group.environment, criterion, points, limits)
            {
                patterns.feedback.push(feedback);
            }
        }
        patterns
            .workflows
            .extend(habits::workflows(group.environment, points, limits));
    }
    patterns.tests = tests.len() as u32;
    let family = testable_family(
        &tests
            .iter()
            .map(|t| t.counts.min_p_value)
            .collect::<Vec<_>>(),
        limits.max_fdr,
    );
    let tests: Vec<Test> = tests
        .into_iter()
        .zip(family)
        .filter_map(|(test, testable)| testable.then_some(test))
        .collect();
    patterns.testable = tests.len() as u32;
    let q_values = bh_adjust(&tests.iter().map(|t| t.counts.p_value).collect::<Vec<_>>());
    let kept: Vec<(&Test, f64)> = tests
        .iter()
        .zip(q_values)
        .filter(|(test, q)| *q <= limits.max_fdr && test.counts.is_pattern(limits))
        .collect();
    // Refinements exist only for kept conditions: each family is held to the level
    // α·R/m (Benjamini–Bogomolov), R kept of the m in the family, so selecting the
    // families first does not loosen the dream's false-discovery rate.
    let level = limits.max_fdr * kept.len() as f64 / tests.len().max(1) as f64;
    let mut seen: BTreeSet<(String, String, String)> = BTreeSet::new();
    for (test, q_value) in kept {
        let group = &groups[test.group];
        let (refinement, tried) = refine(test, &offered[test.group], limits, level);
        patterns.refinements += tried;
        let pattern = failure_pattern(
            group,
            &points[test.group],
            test,
            q_value,
            refinement,
            limits,
        );
        let key = (
            group.environment.to_string(),
            pattern.criterion.clone(),
            serde_json::to_string(&pattern.when).unwrap_or_default(),
        );
        if seen.insert(key) {
            patterns.failures.push(pattern);
        }
    }
    patterns
        .failures
        .sort_by(|a, b| a.p_value.total_cmp(&b.p_value));
    patterns
}

/// Mines one environment kind's digests alone.
pub fn mine_environment(
    environment: &str,
    digests: &[&SessionDigest],
    vocabulary: Vocabulary,
    limits: &MiningLimits,
) -> Patterns {
    mine(
        &[Group {
            environment,
            digests: digests.to_vec(),
            vocabulary,
        }],
        limits,
    )
}

fn criteria<'a>(points: &'a [Point]) -> Vec<&'a str> {
    let set: BTreeSet<&str> = points
        .iter()
        .flat_map(|p| p.iteration.criteria.keys().map(String::as_str))
        .collect();
    set.into_iter().collect()
}

/// A refinement of a kept condition: the second condition, the attempts under both, and
/// its q-value among the condition's refinements.
struct Refinement<'a> {
    condition: &'a Condition,
    under: Vec<&'a Point<'a>>,
    q_value: f64,
}

/// The refinement of `test` that concentrates its failures most, if one is significant
/// among those of its refinements that can reach significance (filtered like single
/// conditions); and how many were tested.
fn refine<'a>(
    test: &Test<'a>,
    offered: &'a [Condition],
    limits: &MiningLimits,
    level: f64,
) -> (Option<Refinement<'a>>, u32) {
    let mut candidates: Vec<(&Condition, Vec<&Point>, Counts)> = Vec::new();
    for other in offered
        .iter()
        .filter(|c| c.feature != test.condition.feature)
    {
        let within: Vec<&Point> = test
            .under
            .iter()
            .copied()
            .filter(|p| other.observed(p.iteration))
            .collect();
        let under: Vec<&Point> = within
            .iter()
            .copied()
            .filter(|p| other.holds(p.iteration))
            .collect();
        if !Counts::testable(&under, within.len(), limits) {
            continue;
        }
        let counts = Counts::of(&under, &within, test.criterion);
        candidates.push((other, under, counts));
    }
    let tried = candidates.len() as u32;
    // The family's own filter, as for single conditions: refinements whose margins
    // cannot reach significance at the family's level leave it first.
    let family = testable_family(
        &candidates
            .iter()
            .map(|c| c.2.min_p_value)
            .collect::<Vec<_>>(),
        level,
    );
    let candidates: Vec<_> = candidates
        .into_iter()
        .zip(family)
        .filter_map(|(candidate, testable)| testable.then_some(candidate))
        .collect();
    let q_values = bh_adjust(&candidates.iter().map(|c| c.2.p_value).collect::<Vec<_>>());
    let best = candidates
        .into_iter()
        .zip(q_values)
        .filter(|((_, _, counts), q)| *q <= level && counts.is_pattern(limits))
        .min_by(|a, b| a.0 .2.p_value.total_cmp(&b.0 .2.p_value))
        .map(|((condition, under, _), q_value)| Refinement {
            condition,
            under,
            q_value,
        });
    (best, tried)
}

/// The pattern a kept test makes: its counts are the test's (first attempts); its
/// remedy, mechanism and evidence read every attempt of `points` under its conditions.
fn failure_pattern(
    group: &Group,
    points: &[Point],
    test: &Test,
    q_value: f64,
    refinement: Option<Refinement>,
    limits: &MiningLimits,
) -> FailurePattern {
    let mut when = BTreeMap::from([(test.condition.feature.clone(), test.condition.value.clone())]);
    let (counts, q_value) = match &refinement {
        Some(refined) => {
            when.insert(
                refined.condition.feature.clone(),
                refined.condition.value.clone(),
            );
            let judged: Vec<&Point> = test
                .judged
                .iter()
                .copied()
                .filter(|p| refined.condition.observed(p.iteration))
                .collect();
            let counts = Counts::of(&refined.under, &judged, test.criterion);
            (counts, q_value.max(refined.q_value))
        }
        None => (test.counts, q_value),
    };
    let holds = |p: &Point| {
        test.condition.holds(p.iteration)
            && refinement
                .as_ref()
                .is_none_or(|r| r.condition.holds(p.iteration))
    };
    let (under, elsewhere): (Vec<&Point>, Vec<&Point>) = points
        .iter()
        .filter(|p| p.iteration.criteria.contains_key(test.criterion))
        .partition(|p| holds(p));
    let choices = group.vocabulary.all_choices();
    let remedy = remedy::find_remedy(test.criterion, &under, &choices, limits);
    let choice = remedy.choice();
    let mut skip: BTreeSet<&str> = when.keys().map(String::as_str).collect();
    skip.extend(choices.iter().map(String::as_str));
    FailurePattern {
        environment: group.environment.to_string(),
        criterion: test.criterion.to_string(),
        feature: test.condition.feature.clone(),
        value: test.condition.value.clone(),
        failed: counts.failed,
        total: counts.total,
        failed_elsewhere: counts.failed_elsewhere,
        total_elsewhere: counts.total_elsewhere,
        p_value: counts.p_value,
        q_value,
        evidence: under
            .iter()
            .map(|p| p.evidence(Some(test.criterion), choice))
            .collect(),
        mechanism: mechanism::mechanism(&under, &elsewhere, &skip),
        remedy,
        when,
    }
}

#[cfg(test)]
#[path = "mine_tests.rs"]
pub(super) mod tests;

#[cfg(test)]
#[path = "mine_fdr_tests.rs"]
mod fdr_tests;

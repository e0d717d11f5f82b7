//! The miner's tests: its exact test, and what counts as a pattern.

use super::*;
use crate::event::Facts;
use crate::spec::EnvironmentCapabilities;
use serde_json::json;
use std::collections::BTreeSet;

/// A session whose iterations each landed on `terrain` and passed or failed `landed`
/// (shared with the near-miss tests).
pub(in crate::dream) fn session(attempts: &[(&str, bool)]) -> SessionDigest {
    SessionDigest {
        session: SessionId::generate(),
        team: "t".into(),
        environment: "e".into(),
        passed: attempts.last().is_some_and(|(_, ok)| *ok),
        iterations: attempts
            .iter()
            .enumerate()
            .map(|(i, (terrain, ok))| IterationDigest {
                iteration: i as u32 + 1,
                passed: *ok,
                criteria: BTreeMap::from([("landed".to_string(), *ok)]),
                fixes: BTreeMap::new(),
                facts: Facts::from([("terrain".to_string(), json!(terrain))]),
                tools: Vec::new(),
                graded_at_seq: 1,
                observations: Default::default(),
                chosen: Default::default(),
            })
            .collect(),
        playbooks: BTreeSet::new(),
        mentions: BTreeMap::new(),
        overrides: Vec::new(),
        choices: Vec::new(),
    }
}

fn mined(digests: &[SessionDigest], limits: &MiningLimits) -> Patterns {
    let refs: Vec<&SessionDigest> = digests.iter().collect();
    mine_environment(
        "e",
        &refs,
        Vocabulary {
            outcomes: outcomes(),
            ..Vocabulary::default()
        },
        limits,
    )
}

fn failures(digests: &[SessionDigest], limits: &MiningLimits) -> Vec<String> {
    mined(digests, limits)
        .failures
        .iter()
        .map(|f| format!("{}={}", f.feature, f.value))
        .collect()
}

#[test]
fn failures_of_one_mission_are_not_a_pattern_however_many() {
    let passing = || session(&[("mare", true)]);
    // One mission failed on dune in all three attempts; ten others passed on mare.
    let mut digests: Vec<SessionDigest> = (0..10).map(|_| passing()).collect();
    digests.push(session(&[
        ("dune", false),
        ("dune", false),
        ("dune", false),
    ]));
    assert!(failures(&digests, &MiningLimits::default()).is_empty());
    // Its retries are not further draws, even when the limits accept one mission.
    let one_mission_enough = MiningLimits {
        min_missions: 1,
        ..MiningLimits::default()
    };
    assert!(failures(&digests, &one_mission_enough).is_empty());
    // Three missions whose first attempts failed there are a pattern (3 of 3 against
    // 0 of 10: p = 1/286), however their retries went.
    digests.pop();
    digests.push(session(&[("dune", false), ("dune", false)]));
    digests.push(session(&[("dune", false), ("mare", true)]));
    assert!(failures(&digests, &MiningLimits::default()).is_empty());
    digests.push(session(&[("dune", false), ("dune", true)]));
    assert_eq!(
        failures(&digests, &MiningLimits::default()),
        ["terrain=\"dune\""]
    );
}

#[test]
fn the_hypergeometric_tail_matches_hand_computed_values() {
    // 6 of 6 draws are failures when 10 of 32 are: C(10,6)/C(32,6).
    let p = hypergeometric_tail(32, 10, 6, 6);
    assert!((p - 210.0 / 906_192.0).abs() < 1e-9, "{p}");
    // 3 or more of 4 draws: (C(10,3)·C(22,1) + C(10,4)) / C(32,4).
    let p = hypergeometric_tail(32, 10, 4, 3);
    assert!((p - 2850.0 / 35_960.0).abs() < 1e-9, "{p}");
    assert_eq!(hypergeometric_tail(5, 2, 1, 0), 1.0);
}

/// A vocabulary that names a result fact the test data never records: the environment
/// says which facts are results, so its conditions are mined.
fn outcomes() -> Vec<String> {
    vec!["unrecorded_result".to_string()]
}

#[test]
fn conditions_are_read_off_first_attempts_so_retries_do_not_choose_them() {
    // Twelve missions: those that failed first on dune retried on crater, a terrain no
    // first attempt saw. Stripped of their retries, the missions offer the same tests.
    let mut digests: Vec<SessionDigest> = (0..8).map(|_| session(&[("mare", true)])).collect();
    for _ in 0..4 {
        digests.push(session(&[("dune", false), ("crater", true)]));
    }
    let first_only: Vec<SessionDigest> = digests
        .iter()
        .map(|d| SessionDigest {
            iterations: d.iterations[..1].to_vec(),
            ..d.clone()
        })
        .collect();
    let limits = MiningLimits::default();
    let (with_retries, without) = (mined(&digests, &limits), mined(&first_only, &limits));
    assert_eq!(with_retries.tests, without.tests);
    assert_eq!(with_retries.testable, without.testable);
    assert_eq!(
        failures(&digests, &MiningLimits::default()),
        ["terrain=\"dune\""]
    );
}

/// A one-attempt session of a deploy team: the result fact `healthy`, what the probe
/// reported before the deploy (`None`: the attempt never probed), the strategy chosen.
fn deploy(healthy: bool, load: Option<f64>, strategy: &str) -> SessionDigest {
    let mut digest = session(&[("flat", healthy)]);
    digest.choices = vec!["deploy.strategy".into()];
    let attempt = &mut digest.iterations[0];
    attempt.criteria = BTreeMap::from([("healthy".to_string(), healthy)]);
    attempt.facts = Facts::from([("healthy".to_string(), json!(healthy))]);
    if let Some(load) = load {
        attempt.observations = BTreeMap::from([("probe.load".to_string(), json!(load))]);
    }
    attempt.chosen = BTreeMap::from([("deploy.strategy".to_string(), json!(strategy))]);
    digest
}

/// Eight busy deploys, six of them plain and failing; eight quiet ones passing; and
/// eight that never probed, all failing for reasons of their own.
fn deploys() -> Vec<SessionDigest> {
    let mut out = Vec::new();
    for i in 0..8 {
        let canary = i < 2;
        out.push(deploy(
            canary,
            Some(0.8),
            if canary { "canary" } else { "rolling" },
        ));
        out.push(deploy(true, Some(0.2), "rolling"));
        out.push(deploy(false, None, "rolling"));
    }
    out
}

fn mined_with(digests: &[SessionDigest], capabilities: &EnvironmentCapabilities) -> Patterns {
    let refs: Vec<&SessionDigest> = digests.iter().collect();
    mine_environment(
        "e",
        &refs,
        Vocabulary::of(capabilities, &refs),
        &MiningLimits::default(),
    )
}

/// The pattern on the probe's load, which the deploys must yield.
fn busy_reading(patterns: &Patterns) -> &FailurePattern {
    patterns
        .failures
        .iter()
        .find(|f| f.feature == "probe.load")
        .expect("the busy probe reading is found")
}

#[test]
fn declared_tool_choices_do_not_make_an_undeclared_environments_facts_conditions() {
    // An environment that says nothing of its facts (not a folder one either): the
    // session's tool choices must not let `healthy = false` become a condition.
    let patterns = mined_with(&deploys(), &EnvironmentCapabilities::default());
    let conditions: Vec<String> = patterns
        .failures
        .iter()
        .map(|f| format!("{}={}", f.feature, f.value))
        .collect();
    assert!(
        conditions.iter().all(|c| !c.starts_with("healthy")),
        "{conditions:?}"
    );
    // The observation is a condition, and the chosen argument its remedy.
    let busy = busy_reading(&patterns);
    assert_eq!(
        busy.remedy.choice(),
        Some("deploy.strategy"),
        "{:?}",
        busy.remedy
    );
}

#[test]
fn attempts_that_never_observed_a_feature_are_left_out_of_its_test() {
    let patterns = mined_with(&deploys(), &EnvironmentCapabilities::default());
    let busy = busy_reading(&patterns);
    // 6 of 8 busy against 0 of 8 quiet: the eight that never probed are not
    // "elsewhere" (counted there, they would be 8 failures of 16).
    assert_eq!(
        (
            busy.failed,
            busy.total,
            busy.failed_elsewhere,
            busy.total_elsewhere
        ),
        (6, 8, 0, 8)
    );
}

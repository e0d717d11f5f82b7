//! The miner's tests: its exact test, and what counts as a pattern.

use super::*;
use crate::event::Facts;
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

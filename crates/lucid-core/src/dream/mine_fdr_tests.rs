//! The false-discovery-rate control over a dream's tests.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::*;
use crate::dream::digest::IterationDigest;
use crate::event::Facts;

/// One session of one graded iteration with these facts and this verdict on `landed`.
fn session(n: u64, facts: Facts, landed: bool) -> SessionDigest {
    SessionDigest {
        session: SessionId(u128::from(n) + 1),
        team: "t".into(),
        environment: "world".into(),
        passed: landed,
        iterations: vec![IterationDigest {
            iteration: 1,
            passed: landed,
            criteria: BTreeMap::from([("landed".to_string(), landed)]),
            fixes: BTreeMap::new(),
            facts,
            tools: Vec::new(),
            graded_at_seq: 10,
            observations: Default::default(),
            chosen: Default::default(),
        }],
        playbooks: BTreeSet::new(),
        mentions: BTreeMap::new(),
        overrides: Vec::new(),
        choices: Vec::new(),
    }
}

/// A deterministic stream of numbers in 0..n (an LCG: the test needs noise, not quality).
struct Noise(u64);

impl Noise {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

/// 90 sessions: landing fails on dune (a real regularity), rarely elsewhere; 150 noise
/// features with four values each vary at random and do not matter.
fn sessions_with_noise() -> Vec<SessionDigest> {
    let mut noise = Noise(7);
    let features: Vec<String> = (0..150).map(|k| format!("noise_{k}")).collect();
    (0..90)
        .map(|i| {
            let dune = i % 3 == 0;
            let landed = !dune && i % 11 != 1;
            let mut facts = Facts::new();
            facts.insert("terrain".into(), json!(if dune { "dune" } else { "flat" }));
            for feature in &features {
                facts.insert(
                    feature.clone(),
                    json!(["a", "b", "c", "d"][noise.next(4) as usize]),
                );
            }
            session(i, facts, landed)
        })
        .collect()
}

/// What a dream mines from these digests with the default limits.
fn mined(digests: &[&SessionDigest]) -> Patterns {
    mine_environment(
        "world",
        digests,
        Vocabulary {
            outcomes: outcomes(),
            ..Vocabulary::default()
        },
        &MiningLimits::default(),
    )
}

fn condition(pattern: &FailurePattern) -> String {
    format!("{}={}", pattern.feature, pattern.value)
}

#[test]
fn false_discoveries_are_controlled_over_every_test_of_a_dream() {
    let sessions = sessions_with_noise();
    let digests: Vec<&SessionDigest> = sessions.iter().collect();
    let mine_with = |max_fdr: f64| {
        let limits = MiningLimits {
            max_fdr,
            ..MiningLimits::default()
        };
        mine_environment(
            "world",
            &digests,
            Vocabulary {
                outcomes: outcomes(),
                ..Vocabulary::default()
            },
            &limits,
        )
    };
    // Without the correction, chance alone passes the raw p-value cap somewhere among
    // the noise features: this is what the correction must remove.
    let uncorrected = mine_with(1.0);
    let chance: Vec<String> = uncorrected
        .failures
        .iter()
        .filter(|p| p.feature.starts_with("noise_"))
        .map(condition)
        .collect();
    assert!(
        !chance.is_empty(),
        "the noise should fool a raw p-value cap"
    );

    let corrected = mine_with(MiningLimits::default().max_fdr);
    let found: Vec<String> = corrected.failures.iter().map(condition).collect();
    assert_eq!(found, vec!["terrain=\"dune\"".to_string()], "{found:?}");
    assert!(corrected.tests >= 150, "{} tests", corrected.tests);
    assert_eq!(corrected.fdr, 0.05);
    let dune = &corrected.failures[0];
    assert!(
        dune.q_value <= 0.05 && dune.q_value >= dune.p_value,
        "{dune:?}"
    );
}

/// Twelve missions: the four on dune fail, the eight elsewhere pass; forty recorded
/// tags split the missions 3 to 9, whatever happened. A tag's condition cannot reach a
/// p-value that matters (3 missions when 4 failed: at best 4/220), so it leaves the
/// family; counted in, the eighty of them would hide the dune rule (1/495 × 82 tests is
/// far above 5 %).
#[test]
fn conditions_that_cannot_reach_significance_do_not_hide_one_that_does() {
    let sessions: Vec<SessionDigest> = (0..12u64)
        .map(|i| {
            let dune = i < 4;
            let mut facts = Facts::new();
            facts.insert("terrain".into(), json!(if dune { "dune" } else { "mare" }));
            add_tags(&mut facts, i, 12);
            session(i, facts, !dune)
        })
        .collect();
    let digests: Vec<&SessionDigest> = sessions.iter().collect();
    let patterns = mined(&digests);
    let found: Vec<String> = patterns.failures.iter().map(condition).collect();
    assert_eq!(found, vec!["terrain=\"dune\"".to_string()], "{found:?}");
    assert!(patterns.tests >= 80, "{} tests", patterns.tests);
    assert!(patterns.testable < 10, "{} testable", patterns.testable);
    let dune = &patterns.failures[0];
    assert!((dune.p_value - 1.0 / 495.0).abs() < 1e-9, "{dune:?}");
    assert!(dune.q_value <= 0.05, "{dune:?}");
}

/// 60 sessions: landing fails on dune only where the orbital reading is smooth (below
/// 3°); dune read rougher is fine; albedo and dust vary and do not matter.
fn sessions_with_a_combination() -> Vec<SessionDigest> {
    let mut noise = Noise(11);
    (0..60)
        .map(|i| {
            let dune = i % 2 == 0;
            let reading = 0.5 + noise.next(60) as f64 / 10.0; // 0.5 ..= 6.4
            let landed = !(dune && reading < 3.0);
            let facts = Facts::from([
                (
                    "terrain".to_string(),
                    json!(if dune { "dune" } else { "mare" }),
                ),
                ("orbital_slope_deg".to_string(), json!(reading)),
                ("albedo".to_string(), json!(noise.next(30) as f64 / 100.0)),
                (
                    "dust".to_string(),
                    json!(["light", "heavy"][noise.next(2) as usize]),
                ),
            ]);
            session(i, facts, landed)
        })
        .collect()
}

#[test]
fn a_regularity_keyed_on_a_combination_is_found_as_one() {
    let sessions = sessions_with_a_combination();
    let digests: Vec<&SessionDigest> = sessions.iter().collect();
    let patterns = mined(&digests);
    let combined: Vec<&FailurePattern> = patterns
        .failures
        .iter()
        .filter(|p| p.when.len() == 2)
        .collect();
    assert!(
        !combined.is_empty(),
        "{:?}",
        patterns
            .failures
            .iter()
            .map(|p| &p.when)
            .collect::<Vec<_>>()
    );
    for pattern in &combined {
        assert_eq!(
            pattern.when.get("terrain"),
            Some(&json!("dune")),
            "{pattern:?}"
        );
        let band = pattern.when.get("orbital_slope_deg").unwrap();
        // The band is on the smooth side: it excludes the rough readings.
        assert!(band.get("min").is_none(), "{band}");
        assert!(band["max"].as_f64().unwrap() <= 3.5, "{band}");
        // Under both conditions it failed far more than elsewhere.
        assert!(pattern.failed * 2 > pattern.total, "{pattern:?}");
    }
    assert!(patterns.refinements > 0);
    // Nothing is said about the distractors.
    assert!(patterns
        .failures
        .iter()
        .all(|p| !p.when.contains_key("albedo") && !p.when.contains_key("dust")));
}

/// Forty tags of mission `i` of `n`: tag k is "x" on missions k, k+1 and k+2 (mod n)
/// and "y" elsewhere, so no tag is seen on enough missions to reach significance.
fn add_tags(facts: &mut Facts, i: u64, n: u64) {
    for k in 0..40u64 {
        let tagged = (i + n - k % n) % n < 3;
        facts.insert(format!("tag_{k}"), json!(if tagged { "x" } else { "y" }));
    }
}

/// A vocabulary that names a result fact the test data never records: the environment
/// says which facts are results, so its conditions are mined.
fn outcomes() -> Vec<String> {
    vec!["unrecorded_result".to_string()]
}

/// Refinements are filtered like single conditions: within fifteen dune missions, forty
/// tags each on three of them cannot reach significance at the family's level; counted
/// in, the eighty tag conditions would hide the smooth-reading band that holds all seven
/// of dune's failures (1/6435 × 82 is above the level).
#[test]
fn refinements_that_cannot_reach_significance_do_not_hide_one_that_does() {
    let sessions: Vec<SessionDigest> = (0..15u64)
        .map(|i| {
            let smooth = i < 7;
            let mut facts = Facts::from([
                ("terrain".to_string(), json!("dune")),
                (
                    "orbital_slope_deg".to_string(),
                    json!(if smooth { 1.0 } else { 5.0 }),
                ),
            ]);
            add_tags(&mut facts, i, 15);
            session(i, facts, !smooth)
        })
        .collect();
    let digests: Vec<&SessionDigest> = sessions.iter().collect();
    let points = first_attempts(&digests);
    let every: Vec<&Point> = points.iter().collect();
    let dune = Condition {
        feature: "terrain".into(),
        value: json!("dune"),
    };
    let mut offered = vec![
        Condition {
            feature: "orbital_slope_deg".into(),
            value: json!({"max": 3.0}),
        },
        Condition {
            feature: "orbital_slope_deg".into(),
            value: json!({"min": 3.0}),
        },
    ];
    for k in 0..40 {
        for value in ["x", "y"] {
            offered.push(Condition {
                feature: format!("tag_{k}"),
                value: json!(value),
            });
        }
    }
    let test = Test {
        group: 0,
        criterion: "landed",
        condition: &dune,
        under: every.clone(),
        judged: every.clone(),
        counts: Counts::of(&every, &every, "landed"),
    };
    let (refinement, tried) = refine(&test, &offered, &MiningLimits::default(), 0.005);
    assert_eq!(tried, 82);
    let refined = refinement.expect("the smooth band refines dune");
    assert_eq!(refined.condition.value, json!({"max": 3.0}));
    assert_eq!(refined.under.len(), 7);
    assert!(refined.q_value <= 0.005, "{}", refined.q_value);
}

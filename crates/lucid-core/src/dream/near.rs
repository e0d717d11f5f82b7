//! Near misses: when a dream proposes nothing, the conditions that came closest to a
//! pattern and the evidence each lacks ("needs 2 more missions failing where terrain =
//! dune"), so a team knows whether to run more missions or to stop waiting for a rule.
//!
//! A near miss is an observed condition under which a criterion failed at the first
//! attempt more often than elsewhere but that the miner did not keep: too few failing
//! missions, or an excess not yet significant. As in the miner, a mission is one draw:
//! its first attempt. What it lacks is counted with the miner's own limits and test: the
//! fewest further missions failing under the condition (the rest of the history
//! unchanged) that would make it a pattern. Nothing here proposes anything.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::conditions::conditions;
use super::digest::{IterationDigest, SessionDigest};
use super::mine::{hypergeometric_tail, MiningLimits, Vocabulary};
use super::synth::show;
use crate::event::SessionId;

/// The most further failures a near miss is judged against; beyond, it is far.
const HORIZON: u32 = 50;

/// A condition that almost made a pattern.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NearMiss {
    pub environment: String,
    pub criterion: String,
    pub feature: String,
    pub value: Value,
    pub failed: u32,
    pub total: u32,
    pub failed_elsewhere: u32,
    pub total_elsewhere: u32,
    /// Distinct missions the failures under the condition come from.
    pub missions: u32,
    pub p_value: f64,
    /// Further missions failing under the condition that would make it a pattern
    /// (`None`: more than the horizon).
    pub more_failures: Option<u32>,
    /// Further missions those failures must include (never more than `more_failures`:
    /// each mission is one draw).
    pub more_missions: u32,
}

impl NearMiss {
    /// One sentence: what happened and what evidence is lacking.
    pub fn describe(&self) -> String {
        let seen = format!(
            "`{}` failed at the first attempt in {} of {} mission(s) where {} = {}, against {} of {} elsewhere (p = {:.1e})",
            self.criterion,
            self.failed,
            self.total,
            self.feature,
            show(&self.value),
            self.failed_elsewhere,
            self.total_elsewhere,
            self.p_value
        );
        match self.more_failures {
            Some(n) => format!("{seen}: needs {n} more mission(s) failing there"),
            // Most failed there, nothing failed elsewhere, yet failures there alone
            // cannot make a pattern: what is missing is missions without the condition
            // to compare with.
            None if self.failed_elsewhere == 0
                && self.failed * 2 >= self.total
                && self.total_elsewhere <= self.total =>
            {
                format!(
                    "{seen}: it needs more missions elsewhere to compare with, not only more failing there"
                )
            }
            None => format!(
                "{seen}: more than {HORIZON} further failures there would be needed; it is likely chance"
            ),
        }
    }
}

/// The fewest further missions failing under a condition that pass the miner's count
/// limits and a p-value of `threshold`, the rest of the history unchanged.
fn more_failures(miss: &NearMiss, limits: &MiningLimits, threshold: f64) -> Option<u32> {
    let judged = miss.total + miss.total_elsewhere;
    let failed_all = miss.failed + miss.failed_elsewhere;
    (0..=HORIZON).find(|&k| {
        k >= miss.more_missions
            && miss.failed + k >= limits.min_failures
            && hypergeometric_tail(judged + k, failed_all + k, miss.total + k, miss.failed + k)
                <= threshold
    })
}

/// A mission's first graded attempt and the session (mission) it belongs to.
type Point<'a> = (SessionId, &'a IterationDigest);

fn fails(point: &Point, criterion: &str) -> bool {
    point.1.criteria.get(criterion) == Some(&false)
}

/// The nearest misses of one environment kind's digests, nearest first, at most `keep`.
/// Conditions that are patterns (their `(criterion, feature, value)` in `found`) are not
/// misses. `tests` is how many conditions the dream tested: what a miss lacks is counted
/// against the strictest level the false-discovery control could hold it to (the
/// rate over that many tests), so "needs k more" never promises too little.
pub fn near_misses(
    environment: &str,
    digests: &[&SessionDigest],
    vocabulary: Vocabulary,
    limits: &MiningLimits,
    found: &BTreeSet<(String, String, String)>,
    keep: usize,
    tests: u32,
) -> Vec<NearMiss> {
    let points: Vec<Point> = digests
        .iter()
        .filter_map(|d| {
            let first = d.iterations.iter().min_by_key(|it| it.iteration)?;
            Some((d.session, first))
        })
        .collect();
    let mut criteria: Vec<&String> = points
        .iter()
        .flat_map(|(_, it)| it.criteria.keys())
        .collect();
    criteria.sort();
    criteria.dedup();
    let threshold = limits
        .max_p_value
        .min(limits.max_fdr / f64::from(tests.max(1)));
    // The conditions the miner offered: read off the first attempts, as it does.
    let firsts: Vec<&IterationDigest> = points.iter().map(|(_, it)| *it).collect();
    let offered = conditions(&firsts, &vocabulary);
    let mut misses = Vec::new();
    for criterion in criteria {
        let judged: Vec<&Point> = points
            .iter()
            .filter(|(_, it)| it.criteria.contains_key(criterion))
            .collect();
        for condition in &offered {
            // Only missions that recorded the feature say anything about it.
            let judged: Vec<&Point> = judged
                .iter()
                .copied()
                .filter(|(_, it)| condition.observed(it))
                .collect();
            let failed_all = judged.iter().filter(|p| fails(p, criterion)).count() as u32;
            let (feature, value) = (&condition.feature, &condition.value);
            let key = (criterion.clone(), feature.clone(), value.to_string());
            if found.contains(&key) {
                continue;
            }
            let under: Vec<&Point> = judged
                .iter()
                .copied()
                .filter(|(_, it)| condition.holds(it))
                .collect();
            // A reading every mission that took it shares is no comparison at all
            // (as for the miner's tests): more missions would not make it one.
            if under.len() == judged.len() {
                continue;
            }
            let total = under.len() as u32;
            let failing: Vec<&Point> = under
                .iter()
                .copied()
                .filter(|p| fails(p, criterion))
                .collect();
            let failed = failing.len() as u32;
            let total_elsewhere = judged.len() as u32 - total;
            let failed_elsewhere = failed_all - failed;
            let rate = f64::from(failed) / f64::from(total.max(1));
            let rate_elsewhere = f64::from(failed_elsewhere) / f64::from(total_elsewhere.max(1));
            if failed == 0 || rate <= rate_elsewhere {
                continue;
            }
            let missions = failing
                .iter()
                .map(|(session, _)| *session)
                .collect::<BTreeSet<_>>()
                .len() as u32;
            let mut miss = NearMiss {
                environment: environment.to_string(),
                criterion: criterion.clone(),
                feature: feature.clone(),
                value: value.clone(),
                failed,
                total,
                failed_elsewhere,
                total_elsewhere,
                missions,
                p_value: hypergeometric_tail(judged.len() as u32, failed_all, total, failed),
                more_failures: None,
                more_missions: limits.min_missions.saturating_sub(missions),
            };
            miss.more_failures = more_failures(&miss, limits, threshold);
            // Enough already yet not kept (another condition said the same): no miss.
            if miss.more_failures == Some(0) && miss.more_missions == 0 {
                continue;
            }
            misses.push(miss);
        }
    }
    misses.sort_by(|a, b| {
        (a.more_failures.unwrap_or(u32::MAX), a.more_missions)
            .cmp(&(b.more_failures.unwrap_or(u32::MAX), b.more_missions))
            .then(a.p_value.total_cmp(&b.p_value))
    });
    misses.truncate(keep);
    misses
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dream::mine::tests::session;
    use serde_json::json;

    #[test]
    fn missions_that_never_recorded_a_feature_are_not_its_comparison() {
        // Two missions failed on dune; eight recorded no terrain at all (and passed).
        // Compared with nothing, dune is no near miss: more missions would not help.
        let mut digests: Vec<SessionDigest> = (0..8)
            .map(|_| {
                let mut d = session(&[("mare", true)]);
                d.iterations[0].facts.clear();
                d
            })
            .collect();
        digests.push(session(&[("dune", false)]));
        digests.push(session(&[("dune", false)]));
        let refs: Vec<&SessionDigest> = digests.iter().collect();
        let vocabulary = Vocabulary {
            outcomes: vec!["landed".into()],
            ..Vocabulary::default()
        };
        let limits = MiningLimits::default();
        let misses = near_misses("e", &refs, vocabulary, &limits, &BTreeSet::new(), 3, 1);
        assert!(misses.is_empty(), "{misses:?}");
    }

    #[test]
    fn a_near_miss_says_how_many_more_failures_and_missions_it_needs() {
        let mut digests: Vec<SessionDigest> = (0..10).map(|_| session(&[("mare", true)])).collect();
        digests.push(session(&[("dune", false), ("dune", false)]));
        let refs: Vec<&SessionDigest> = digests.iter().collect();
        let limits = MiningLimits::default();
        let vocabulary = Vocabulary {
            outcomes: vec!["landed".into()],
            ..Vocabulary::default()
        };
        let misses = near_misses(
            "e",
            &refs,
            vocabulary.clone(),
            &limits,
            &BTreeSet::new(),
            3,
            1,
        );
        assert_eq!(misses.len(), 1, "{misses:?}");
        let dune = &misses[0];
        // A mission is one draw: its retry on dune is not a second failure there.
        assert_eq!((dune.failed, dune.total, dune.missions), (1, 1, 1));
        // Two more missions failing there: 3 of 3 against 0 of 10, p = 1/286.
        assert_eq!((dune.more_failures, dune.more_missions), (Some(2), 1));
        assert!(
            dune.describe()
                .ends_with("needs 2 more mission(s) failing there"),
            "{}",
            dune.describe()
        );
        // Over a hundred tests, the same miss needs more evidence.
        let strict = near_misses(
            "e",
            &refs,
            vocabulary.clone(),
            &limits,
            &BTreeSet::new(),
            3,
            100,
        );
        assert!(strict[0].more_failures.unwrap() > 1, "{strict:?}");
        // A condition that is a pattern is no miss.
        let found = BTreeSet::from([(
            "landed".to_string(),
            "terrain".to_string(),
            json!("dune").to_string(),
        )]);
        assert!(near_misses("e", &refs, vocabulary.clone(), &limits, &found, 3, 1).is_empty());
        // Failing about as often as elsewhere is far from a pattern.
        let even: Vec<SessionDigest> = (0..40)
            .map(|i| session(&[(if i % 2 == 0 { "dune" } else { "mare" }, i % 4 < 2)]))
            .collect();
        let refs: Vec<&SessionDigest> = even.iter().collect();
        for miss in near_misses(
            "e",
            &refs,
            vocabulary.clone(),
            &limits,
            &BTreeSet::new(),
            3,
            1,
        ) {
            assert!(miss.more_failures.is_none_or(|n| n > 3), "{miss:?}");
        }
    }
}

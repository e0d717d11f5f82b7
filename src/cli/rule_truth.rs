//! Scoring learned rules against a world generator's hidden truth, for `lucid bench
//! learning` only: the truth reaches this score and nothing a policy or a dream reads.
//!
//! A rule's condition picks out the candidate sites of the held-out missions it
//! matches. The rule is **true** when one hidden regularity acts on at least half of
//! those sites *and* on at least twice its share of all sites (it points at real
//! trouble, not at the base rate), false otherwise (including a rule that matches no
//! site). A regularity is **recalled** when some true rule
//! matches at least half of the sites it acts on. On a world with no regularity every
//! rule is false.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use lucid_core::world::rules::Rule;
use lucid_envs::lumara::SiteTruth;

/// Share of matched sites that must carry a regularity for a rule to be true, and of a
/// regularity's sites a rule must match to recall it.
const HALF: f64 = 0.5;
/// How many times its share of all sites a regularity must have among a true rule's.
const LIFT: f64 = 2.0;

/// How learned rules fare against the generator's truth.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RuleScore {
    pub rules: usize,
    pub true_rules: usize,
    /// Regularities present in the held-out missions.
    pub regularities: usize,
    pub recalled: usize,
}

impl RuleScore {
    /// True rules over rules (`None` without rules).
    pub fn precision(&self) -> Option<f64> {
        (self.rules > 0).then(|| self.true_rules as f64 / self.rules as f64)
    }

    /// Recalled regularities over regularities (`None` on a world without any).
    pub fn recall(&self) -> Option<f64> {
        (self.regularities > 0).then(|| self.recalled as f64 / self.regularities as f64)
    }
}

/// Scores rules with a `when` condition against the sites of held-out missions.
pub fn score(rules: &[Rule], sites: &[SiteTruth]) -> RuleScore {
    let mut by_regularity: BTreeMap<&str, usize> = BTreeMap::new();
    for site in sites {
        if let Some(r) = site.regularity {
            *by_regularity.entry(r).or_default() += 1;
        }
    }
    let mut score = RuleScore {
        regularities: by_regularity.len(),
        ..RuleScore::default()
    };
    let mut recalled: BTreeSet<&str> = BTreeSet::new();
    for rule in rules.iter().filter(|r| !r.when.is_empty()) {
        score.rules += 1;
        let matched: Vec<&SiteTruth> = sites.iter().filter(|s| rule.applies(&s.features)).collect();
        let share = |name: &str, among: &[&SiteTruth]| {
            among.iter().filter(|s| s.regularity == Some(name)).count() as f64
                / among.len().max(1) as f64
        };
        let all: Vec<&SiteTruth> = sites.iter().collect();
        let points_at_one = by_regularity.keys().any(|name| {
            let here = share(name, &matched);
            here >= HALF && here >= LIFT * share(name, &all)
        });
        if matched.is_empty() || !points_at_one {
            continue;
        }
        score.true_rules += 1;
        for (name, total) in &by_regularity {
            let hit = matched
                .iter()
                .filter(|s| s.regularity == Some(name))
                .count();
            if hit as f64 >= HALF * *total as f64 {
                recalled.insert(name);
            }
        }
    }
    score.recalled = recalled.len();
    score
}

/// Every candidate site of the given Lumara missions.
pub fn lumara_sites(world: u64, seeds: &[u64]) -> Vec<SiteTruth> {
    seeds
        .iter()
        .flat_map(|seed| lucid_envs::lumara::ground_truth(world, *seed))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn rule(when: Value) -> Rule {
        serde_json::from_value(json!({"when": when, "then": {"avoid": true}})).unwrap()
    }

    #[test]
    fn rules_are_scored_against_the_hidden_truth() {
        // World 3's deceptive ground: its terrain read smooth is the truth; the site
        // letter is noise.
        let sites = lumara_sites(3, &(1..=40).collect::<Vec<_>>());
        let deceptive: Vec<&SiteTruth> = sites
            .iter()
            .filter(|s| s.regularity == Some("deceptive_ground"))
            .collect();
        let terrain = deceptive[0].features["terrain"].clone();
        let right = rule(json!({"terrain": terrain, "orbital_slope_deg": {"max": 2.5}}));
        let noise = rule(json!({"site": "B"}));
        let never = rule(json!({"terrain": "nowhere"}));
        let scored = score(&[right.clone(), noise, never], &sites);
        assert_eq!((scored.rules, scored.true_rules), (3, 1), "{scored:?}");
        assert_eq!(scored.regularities, 2);
        assert_eq!(scored.recalled, 1);
        assert_eq!(scored.precision(), Some(1.0 / 3.0));
        assert_eq!(scored.recall(), Some(0.5));
        // On the null world nothing is regular: any rule is false, recall undefined.
        let null = score(&[right], &lumara_sites(0, &[1, 2, 3]));
        assert_eq!((null.true_rules, null.regularities), (0, 0));
        assert_eq!(null.recall(), None);
    }
}

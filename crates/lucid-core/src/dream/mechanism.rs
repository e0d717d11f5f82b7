//! Mechanisms: what else the data shows differs under a failure condition, so a playbook
//! can say *why* ("`altimeter_at_contact_m` was 61–158 there against −8–9 elsewhere")
//! and not only what.
//!
//! Every numeric fact the iterations recorded is compared, results included (they are
//! where a mechanism shows), except the condition's own features and the choices: the
//! one whose middle 80 % under the condition lies furthest from its middle 80 %
//! elsewhere, measured in the spread elsewhere, is the mechanism, if the two ranges do
//! not overlap.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::mine::Point;

/// A fact whose values under a condition lie apart from its values elsewhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mechanism {
    pub fact: String,
    /// The middle 80 % of its values under the condition.
    pub under: (f64, f64),
    /// The middle 80 % of its values elsewhere.
    pub elsewhere: (f64, f64),
}

/// The fact that separates `under` from `elsewhere` most, if any does cleanly.
pub(super) fn mechanism(
    under: &[&Point],
    elsewhere: &[&Point],
    skip: &BTreeSet<&str>,
) -> Option<Mechanism> {
    let facts: BTreeSet<&String> = under
        .iter()
        .flat_map(|p| p.iteration.facts.keys())
        .filter(|name| !skip.contains(name.as_str()))
        .collect();
    let mut best: Option<(f64, Mechanism)> = None;
    for fact in facts {
        let values = |points: &[&Point]| -> Vec<f64> {
            let mut v: Vec<f64> = points
                .iter()
                .filter_map(|p| p.iteration.facts.get(fact)?.as_f64())
                .filter(|x| x.is_finite())
                .collect();
            v.sort_by(f64::total_cmp);
            v
        };
        let (inside, outside) = (values(under), values(elsewhere));
        if inside.len() < 3 || outside.len() < 3 {
            continue;
        }
        let (a, b) = (middle(&inside), middle(&outside));
        let gap = if a.0 > b.1 {
            a.0 - b.1
        } else if b.0 > a.1 {
            b.0 - a.1
        } else {
            continue;
        };
        let spread = (b.1 - b.0).max(a.1 - a.0).max(1e-9);
        let score = gap / spread;
        if best.as_ref().is_none_or(|(s, _)| score > *s) {
            best = Some((
                score,
                Mechanism {
                    fact: fact.clone(),
                    under: a,
                    elsewhere: b,
                },
            ));
        }
    }
    best.map(|(_, m)| m)
}

/// The 10th and 90th percentiles (nearest rank) of sorted values.
fn middle(sorted: &[f64]) -> (f64, f64) {
    let at = |share: f64| {
        let index = ((sorted.len() - 1) as f64 * share).round() as usize;
        sorted.get(index).copied().unwrap_or_default()
    };
    (at(0.1), at(0.9))
}

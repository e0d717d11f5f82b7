//! Conditions a dream may state a rule on, read off the data rather than a list an
//! environment hands over.
//!
//! Every fact the sessions recorded is a candidate feature, except the facts that
//! record the team's choices (they are what a rule sets) and the facts that measure the
//! attempt's result (known only after acting, so no agent could check them when it
//! plans): an environment whose facts are all results, or that says nothing of its facts,
//! offers none. Every observation (what the tools reported before the team's first
//! declared choice, see `observe`) is a candidate too. A feature with few distinct values gives one condition per value
//! (`terrain = dune`); a numeric feature with many gives bands cut at the terciles of
//! the values seen (`orbital_slope_deg` below 3.2, 3.2 to below 5.1, at least 5.1),
//! written as the `{"min": a, "max": b}` ranges rules use.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::digest::IterationDigest;
use super::mine::Vocabulary;
use crate::world::rules::values_match;

/// A numeric feature with more distinct values than this is cut into bands.
const MAX_CATEGORIES: usize = 6;

/// `feature` has `value`: a scalar it equals, or a `{"min", "max"}` range it falls in.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub feature: String,
    pub value: Value,
}

impl Condition {
    /// Whether the iteration recorded the condition's feature at all. One that did not
    /// (an attempt that never reached the cut, a probe never called) says nothing about
    /// the condition: it is left out of the condition's test, not counted against it.
    pub fn observed(&self, iteration: &IterationDigest) -> bool {
        iteration.feature(&self.feature).is_some_and(usable)
    }

    pub fn holds(&self, iteration: &IterationDigest) -> bool {
        iteration
            .feature(&self.feature)
            .is_some_and(|seen| usable(seen) && values_match(seen, &self.value))
    }
}

/// Values a condition can be stated on.
pub fn usable(value: &Value) -> bool {
    match value {
        Value::String(s) => !s.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
        _ => false,
    }
}

/// Every condition the iterations' facts and observations offer under `vocabulary`,
/// features in name order.
pub fn conditions(iterations: &[&IterationDigest], vocabulary: &Vocabulary) -> Vec<Condition> {
    let excluded = vocabulary.excluded();
    let facts = vocabulary.facts_may_be_conditions();
    let features: BTreeSet<&String> = iterations
        .iter()
        .flat_map(|it| {
            let facts = it.facts.keys().filter(move |_| facts);
            facts.chain(it.observations.keys())
        })
        .filter(|name| !excluded.contains(name.as_str()))
        .collect();
    let mut out = Vec::new();
    for feature in features {
        let mut values: Vec<&Value> = iterations
            .iter()
            .filter_map(|it| it.feature(feature))
            .filter(|v| usable(v))
            .collect();
        values.sort_by_key(|v| v.to_string());
        values.dedup();
        let numbers: Option<Vec<f64>> = values.iter().map(|v| v.as_f64()).collect();
        match numbers {
            Some(numbers) if numbers.len() > MAX_CATEGORIES => {
                out.extend(bands(feature, &numbers));
            }
            _ => out.extend(values.into_iter().map(|value| Condition {
                feature: feature.clone(),
                value: value.clone(),
            })),
        }
    }
    out
}

/// Three bands cut at the terciles of the distinct values.
fn bands(feature: &str, numbers: &[f64]) -> Vec<Condition> {
    let mut sorted = numbers.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (Some(&low), Some(&high)) = (sorted.first(), sorted.last()) else {
        return Vec::new();
    };
    let step = readable_step(high - low);
    let cut = |share: f64| {
        let index = ((sorted.len() as f64) * share).floor() as usize;
        let value = sorted.get(index).copied().unwrap_or(high);
        tidy((value / step).round() * step)
    };
    let (first, second) = (cut(1.0 / 3.0), cut(2.0 / 3.0));
    let range = |min: Option<f64>, max: Option<f64>| {
        let mut bound = serde_json::Map::new();
        if let Some(min) = min {
            bound.insert("min".into(), json!(min));
        }
        if let Some(max) = max {
            bound.insert("max".into(), json!(max));
        }
        Condition {
            feature: feature.to_string(),
            value: Value::Object(bound),
        }
    };
    if first >= second {
        return vec![range(None, Some(first)), range(Some(first), None)];
    }
    vec![
        range(None, Some(first)),
        range(Some(first), Some(second)),
        range(Some(second), None),
    ]
}

/// A rounding step that keeps about two significant digits of a spread.
fn readable_step(spread: f64) -> f64 {
    if !spread.is_finite() || spread <= 0.0 {
        return 1.0;
    }
    10f64.powf((spread / 10.0).log10().floor())
}

/// Removes binary noise such as 3.1000000000000005.
fn tidy(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Facts;
    use std::collections::BTreeMap;

    fn iteration(facts: Facts) -> IterationDigest {
        IterationDigest {
            iteration: 1,
            passed: true,
            criteria: BTreeMap::new(),
            fixes: BTreeMap::new(),
            facts,
            tools: Vec::new(),
            graded_at_seq: 1,
            observations: Default::default(),
            chosen: Default::default(),
        }
    }

    #[test]
    fn few_values_are_categories_and_many_numbers_are_bands() {
        let iterations: Vec<IterationDigest> = (0..30)
            .map(|i| {
                iteration(Facts::from([
                    ("terrain".to_string(), json!(["dune", "mare"][i % 2])),
                    ("slope".to_string(), json!(i as f64 / 2.0)),
                    ("throttle".to_string(), json!(0.8)),
                    ("landed".to_string(), json!(i % 3 == 0)),
                ]))
            })
            .collect();
        let refs: Vec<&IterationDigest> = iterations.iter().collect();
        let vocabulary = Vocabulary {
            choices: vec!["throttle".into()],
            outcomes: vec!["landed".into()],
            ..Vocabulary::default()
        };
        let found = conditions(&refs, &vocabulary);
        let terrain: Vec<&Condition> = found.iter().filter(|c| c.feature == "terrain").collect();
        assert_eq!(terrain.len(), 2);
        let slope: Vec<&Value> = found
            .iter()
            .filter(|c| c.feature == "slope")
            .map(|c| &c.value)
            .collect();
        assert_eq!(
            slope,
            [
                &json!({"max": 5.0}),
                &json!({"min": 5.0, "max": 10.0}),
                &json!({"min": 10.0})
            ]
        );
        assert!(found
            .iter()
            .all(|c| c.feature != "throttle" && c.feature != "landed"));
        // Every iteration falls in exactly one band.
        for it in &iterations {
            let n = found
                .iter()
                .filter(|c| c.feature == "slope" && c.holds(it))
                .count();
            assert_eq!(n, 1);
        }
    }
}

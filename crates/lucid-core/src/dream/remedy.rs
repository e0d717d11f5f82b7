//! Remedies: under a failure condition, the choice whose values separate the passing
//! attempts from the failing ones (`burn_margin_m ≥ 150`, `survey = low_pass`), or, when
//! none does, avoiding the condition.
//!
//! A numeric threshold is not the passing value nearest the failures (the least safe
//! one the data allows) but a conservative bound on the passing values: their lower
//! quartile (upper, for an upper bound) moved a further [`MARGIN_SHARE`] away from the
//! failures, so a rule asks for what most passing attempts did, with room to spare.

use serde_json::Value;

use super::conditions::usable;
use super::mine::{MiningLimits, Point, Remedy};

/// How far beyond the quartile of the passing values a threshold is set, as a share of
/// the quartile's magnitude.
pub const MARGIN_SHARE: f64 = 0.05;

/// The choice that best separates passes from failures under a condition.
pub(super) fn find_remedy(
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
                let value = p.iteration.choice(choice).filter(|v| usable(v))?;
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
            let below = fs.iter().filter(|f| **f < low).count();
            let above = fs.iter().filter(|f| **f > high).count();
            let n = ps.len() as u32;
            let share = |k: usize| k as f64 / fs.len() as f64;
            if share(below) >= limits.min_separation {
                consider(
                    share(below),
                    n,
                    Remedy::AtLeast {
                        choice: choice.clone(),
                        threshold: conservative_floor(&ps),
                        passes: n,
                        separated: below as u32,
                    },
                );
            }
            if share(above) >= limits.min_separation {
                consider(
                    share(above),
                    n,
                    Remedy::AtMost {
                        choice: choice.clone(),
                        threshold: conservative_ceiling(&ps),
                        passes: n,
                        separated: above as u32,
                    },
                );
            }
            continue;
        }
        // A categorical choice: one value all passes share, which most failures lack.
        let Some(&first) = passes.first() else {
            continue;
        };
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

/// The lower quartile of the passing values (`sorted` ascending, not empty), plus the
/// margin.
pub fn conservative_floor(sorted: &[f64]) -> f64 {
    let Some(&highest) = sorted.last() else {
        return 0.0;
    };
    let quartile = sorted
        .get((sorted.len() - 1) / 4)
        .copied()
        .unwrap_or_default();
    // Never beyond every passing value: no attempt ever passed there.
    round_readable((quartile + MARGIN_SHARE * quartile.abs()).min(highest))
}

/// The upper quartile of the passing values (`sorted` ascending, not empty), less the
/// margin.
pub fn conservative_ceiling(sorted: &[f64]) -> f64 {
    let Some(&lowest) = sorted.first() else {
        return 0.0;
    };
    let quartile = sorted
        .get(sorted.len() - 1 - (sorted.len() - 1) / 4)
        .copied()
        .unwrap_or_default();
    round_readable((quartile - MARGIN_SHARE * quartile.abs()).max(lowest))
}

/// Two decimals below 10, whole numbers above: what a person would write.
fn round_readable(x: f64) -> f64 {
    if x.abs() >= 10.0 {
        x.round()
    } else {
        (x * 100.0).round() / 100.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_sit_inside_the_passing_values_with_a_margin() {
        // Passing margins 120..=190: the least safe value would be 120.
        let passes = [
            120.0, 130.0, 140.0, 150.0, 160.0, 170.0, 180.0, 190.0, 200.0,
        ];
        let floor = conservative_floor(&passes);
        assert!(floor > 130.0 && floor < 150.0, "{floor}");
        assert_eq!(floor, 147.0);
        let ceiling = conservative_ceiling(&[0.5, 0.6, 0.7, 0.8, 0.9]);
        assert!(ceiling < 0.9 && ceiling > 0.6, "{ceiling}");
        // Two passes: the quartile is the lower one, still with the margin.
        assert_eq!(conservative_floor(&[100.0, 180.0]), 105.0);
        // Never beyond every passing value.
        assert_eq!(conservative_floor(&[1.0, 1.0, 1.0]), 1.0);
        assert_eq!(conservative_ceiling(&[0.3, 0.3]), 0.3);
        assert_eq!(conservative_floor(&[]), 0.0);
    }
}

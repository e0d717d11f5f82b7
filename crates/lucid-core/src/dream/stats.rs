//! The statistics a dream's mining rests on: the one-sided hypergeometric test of a
//! condition's failure excess, and Benjamini–Hochberg control of the false-discovery rate
//! over every test a dream runs, restricted to the tests that can reach significance at
//! all (Tarone's filter for discrete tests, in Gilbert's form for the FDR).

/// P(X ≥ k) for X ~ Hypergeometric(population n_total, successes k_total, draws n).
pub fn hypergeometric_tail(n_total: u32, k_total: u32, n: u32, k: u32) -> f64 {
    if k == 0 {
        return 1.0;
    }
    let ln_fact: Vec<f64> = std::iter::once(0.0)
        .chain((1..=n_total).scan(0.0, |acc, i| {
            *acc += f64::from(i).ln();
            Some(*acc)
        }))
        .collect();
    let ln_choose = |a: u32, b: u32| -> Option<f64> {
        (b <= a).then(|| ln_fact[a as usize] - ln_fact[b as usize] - ln_fact[(a - b) as usize])
    };
    let Some(denominator) = ln_choose(n_total, n) else {
        return 1.0;
    };
    let mut p = 0.0;
    for x in k..=n.min(k_total) {
        if let (Some(a), Some(b)) = (ln_choose(k_total, x), ln_choose(n_total - k_total, n - x)) {
            p += (a + b - denominator).exp();
        }
    }
    p.min(1.0)
}

/// The smallest p-value [`hypergeometric_tail`] can give for `n` draws from this
/// population, whatever the draws: every draw a success (or every success drawn). It
/// depends only on the margins, not on which draws succeeded.
pub fn min_attainable_p(n_total: u32, k_total: u32, n: u32) -> f64 {
    hypergeometric_tail(n_total, k_total, n, n.min(k_total))
}

/// Which tests can reach significance, given the smallest p-value each can attain
/// (Tarone 1990; Gilbert 2005 for the false-discovery rate): for the smallest `K ≥ 1`
/// such that at most `K` tests can attain a p-value below `α/K`, exactly those tests.
/// Benjamini–Hochberg over them at level `α` controls the false-discovery rate over all
/// the tests. A discrete test whose margins allow no small p-value (a condition seen
/// twice, a criterion that failed once) cannot be a discovery, so it does not dilute
/// the ones that can.
pub fn testable_family(min_p_values: &[f64], alpha: f64) -> Vec<bool> {
    let m = min_p_values.len();
    let below = |k: usize| {
        let level = alpha / k as f64;
        min_p_values.iter().filter(|&&p| p < level).count()
    };
    let k = (1..=m).find(|&k| below(k) <= k).unwrap_or(m.max(1));
    let level = alpha / k as f64;
    min_p_values.iter().map(|&p| p < level).collect()
}

/// Benjamini–Hochberg adjusted p-values (q-values), in the order given: a test whose
/// q-value is at most `α` is a discovery at false-discovery rate `α` over all of them.
pub fn bh_adjust(p_values: &[f64]) -> Vec<f64> {
    let m = p_values.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| p_values[a].total_cmp(&p_values[b]));
    let mut adjusted = vec![1.0; m];
    let mut running = 1.0_f64;
    // From the largest p-value down: q(i) = min over j ≥ i of p(j)·m/j.
    for (rank, &index) in order.iter().enumerate().rev() {
        let scaled = p_values[index] * m as f64 / (rank + 1) as f64;
        running = running.min(scaled);
        adjusted[index] = running.min(1.0);
    }
    adjusted
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn the_smallest_attainable_p_value_depends_only_on_the_margins() {
        // 4 draws of 12 with 4 failures: all four drawn, 1/C(12,4).
        assert!((min_attainable_p(12, 4, 4) - 1.0 / 495.0).abs() < 1e-12);
        // 2 draws when 6 of 12 failed: both failures, C(6,2)/C(12,2).
        assert!((min_attainable_p(12, 6, 2) - 15.0 / 66.0).abs() < 1e-12);
        // No failures at all: nothing can be significant.
        assert_eq!(min_attainable_p(12, 0, 5), 1.0);
    }

    #[test]
    fn tests_that_cannot_reach_significance_leave_the_family() {
        // Two tests that can reach 1e-4 and forty that can reach at best 0.03: all 42
        // could pass α = 0.05 alone, but none of the forty can pass α/K for a K of at
        // least 2, and only two can, so the family is the two, at 0.05/2.
        let mut min_p = vec![1e-4, 1e-4];
        min_p.extend(std::iter::repeat_n(0.03, 40));
        let family = testable_family(&min_p, 0.05);
        assert_eq!(family.iter().filter(|&&t| t).count(), 2);
        assert!(family[0] && family[1]);
        // When every test can reach a small p-value, every test is in the family.
        assert!(testable_family(&[1e-6; 30], 0.05).iter().all(|&t| t));
        assert!(testable_family(&[], 0.05).is_empty());
    }

    #[test]
    fn bh_adjusts_like_the_textbook_example() {
        // p = (0.01, 0.04, 0.03, 0.005), m = 4: sorted 0.005, 0.01, 0.03, 0.04
        // → 0.02, 0.02, 0.04, 0.04 (monotone from the top).
        let q = bh_adjust(&[0.01, 0.04, 0.03, 0.005]);
        let expected = [0.02, 0.04, 0.04, 0.02];
        for (got, want) in q.iter().zip(expected) {
            assert!((got - want).abs() < 1e-12, "{q:?}");
        }
        // One test: no adjustment.
        assert_eq!(bh_adjust(&[0.3]), vec![0.3]);
        assert!(bh_adjust(&[]).is_empty());
    }
}

//! The statistics a dream's mining rests on: the one-sided hypergeometric test of a
//! condition's failure excess, and Benjamini–Hochberg control of the false-discovery rate
//! over every test a dream runs.

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

//! A tiny deterministic random number generator (SplitMix64) for building worlds and
//! missions. It owns nothing but its state; it is not meant for anything cryptographic
//! and keeps Lumara free of a `rand` dependency.

/// SplitMix64: a 64-bit state, good statistical quality for simulation noise.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `[lo, hi)`.
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform integer in `0..n` (`0` when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        (self.next_u64() % n as u64) as usize
    }

    /// Standard normal (Box–Muller).
    pub(crate) fn normal(&mut self) -> f64 {
        let u1 = self.unit().max(1e-12);
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }

    /// An index drawn with the given (non-negative) weights.
    pub(crate) fn weighted(&mut self, weights: &[f64]) -> usize {
        let total: f64 = weights.iter().map(|w| w.max(0.0)).sum();
        let mut pick = self.unit() * total;
        for (index, weight) in weights.iter().enumerate() {
            pick -= weight.max(0.0);
            if pick < 0.0 {
                return index;
            }
        }
        weights.len().saturating_sub(1)
    }
}

/// Combines two numbers into a well-mixed seed.
pub(crate) fn mix(a: u64, b: u64) -> u64 {
    let mut rng = SplitMix64::new(a ^ b.rotate_left(32) ^ 0x6C75_6D61_7261_0001);
    rng.next_u64() ^ SplitMix64::new(b.wrapping_mul(0xA24B_AED4_963E_E407)).next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_and_ranges_hold() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        let mut rng = SplitMix64::new(1);
        for _ in 0..1000 {
            let x = rng.range(2.0, 3.0);
            assert!((2.0..3.0).contains(&x));
            assert!(rng.below(6) < 6);
            assert!(rng.weighted(&[0.0, 1.0, 0.0]) == 1);
        }
        assert_ne!(mix(1, 2), mix(2, 1));
    }
}

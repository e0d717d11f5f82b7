//! Deterministic fault injection for the policy server: which request fails, and how
//! (429 with `retry-after`/`retry-after-ms`, 529, 500, or an answer cut mid-way).

use std::time::Duration;

/// Which fault a request gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// 429 asking to wait with `retry-after-ms`.
    RateLimitedMs,
    /// 429 asking to wait with `retry-after` (seconds).
    RateLimitedSeconds,
    /// 529, Anthropic's "overloaded", which OpenAI-compatible gateways pass on.
    Overloaded,
    /// 500.
    ServerError,
    /// A 200 whose body stops half-way and the connection closes.
    Cut,
}

/// Deterministic fault injection: request number `n` gets a fault when a hash of
/// `(seed, n)` falls under `rate`; which fault is another hash of the same pair.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Faults {
    /// Share of requests that fail, in `[0, 1]`.
    pub rate: f64,
    pub seed: u64,
    /// The wait a 429 asks for.
    pub retry_after: Duration,
}

impl Faults {
    pub fn new(rate: f64, seed: u64) -> Self {
        Faults {
            rate,
            seed,
            retry_after: Duration::from_millis(20),
        }
    }

    /// The fault for the `n`-th request (0-based), if any.
    pub fn pick(&self, n: u64) -> Option<Fault> {
        let roll = splitmix(self.seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let unit = (roll >> 11) as f64 / (1u64 << 53) as f64;
        if unit >= self.rate {
            return None;
        }
        Some(match splitmix(roll) % 5 {
            0 => Fault::RateLimitedMs,
            1 => Fault::RateLimitedSeconds,
            2 => Fault::Overloaded,
            3 => Fault::ServerError,
            _ => Fault::Cut,
        })
    }
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

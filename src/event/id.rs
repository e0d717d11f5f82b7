//! Identifiers: time-sortable session ids and per-session agent thread ids.
//!
//! A [`SessionId`] is 128 bits: 48 bits of milliseconds since the Unix epoch followed by
//! 80 bits of randomness (the ULID layout), shown as 26 characters of Crockford base32.
//! Big-endian bytes sort by creation time, which is what the store's key layout needs.

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A session's id; sorts by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionId(pub u128);

impl SessionId {
    /// A fresh id stamped with the current time.
    pub fn generate() -> Self {
        Self::at(now_ms())
    }

    /// A fresh id stamped with `ms`; ids made in the same millisecond still differ.
    pub fn at(ms: u64) -> Self {
        let random = random_u128() & ((1u128 << 80) - 1);
        SessionId((u128::from(ms) << 80) | random)
    }

    pub fn to_bytes(self) -> [u8; 16] {
        self.0.to_be_bytes()
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        SessionId(u128::from_be_bytes(bytes))
    }

    /// Milliseconds since the Unix epoch at which the id was made.
    pub fn timestamp_ms(self) -> u64 {
        (self.0 >> 80) as u64
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = [0u8; 26];
        for (i, slot) in out.iter_mut().enumerate() {
            let shift = 5 * (25 - i);
            *slot = CROCKFORD[((self.0 >> shift) & 0x1f) as usize];
        }
        // Every byte comes from the ASCII alphabet above.
        f.write_str(std::str::from_utf8(&out).map_err(|_| fmt::Error)?)
    }
}

/// Why a string is not a session id.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{0}` is not a session id (26 characters of Crockford base32)")]
pub struct ParseIdError(pub String);

impl FromStr for SessionId {
    type Err = ParseIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 26 {
            return Err(ParseIdError(s.to_string()));
        }
        let mut value: u128 = 0;
        for (i, c) in s.bytes().enumerate() {
            let digit = match c.to_ascii_uppercase() {
                b'O' => 0,
                b'I' | b'L' => 1,
                up => CROCKFORD
                    .iter()
                    .position(|&a| a == up)
                    .ok_or_else(|| ParseIdError(s.to_string()))? as u128,
            };
            // The first character carries only 3 bits of a 128-bit value.
            if i == 0 && digit > 7 {
                return Err(ParseIdError(s.to_string()));
            }
            value = (value << 5) | digit;
        }
        Ok(SessionId(value))
    }
}

impl Serialize for SessionId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for SessionId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An agent thread within one session: 1 is the first agent spawned (the lead).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AgentId(pub u32);

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// 128 bits of non-cryptographic randomness: std's per-process random hash keys mixed
/// with a counter and the clock. Ids need uniqueness, not secrecy.
fn random_u128() -> u128 {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let state = RandomState::new();
    let mut high = state.build_hasher();
    high.write_u64(count);
    high.write_u64(nanos);
    let mut low = state.build_hasher();
    low.write_u64(nanos);
    low.write_u64(count.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    (u128::from(high.finish()) << 64) | u128::from(low.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_round_trip_and_sort_by_time() {
        let early = SessionId::at(1_000);
        let late = SessionId::at(2_000);
        assert!(early < late);
        assert!(early.to_string() < late.to_string());
        let parsed: SessionId = early.to_string().parse().unwrap();
        assert_eq!(parsed, early);
        assert_eq!(parsed.timestamp_ms(), 1_000);
        assert_eq!(SessionId::from_bytes(late.to_bytes()), late);
    }

    #[test]
    fn ids_made_in_one_millisecond_differ() {
        let a = SessionId::at(5);
        let b = SessionId::at(5);
        assert_ne!(a, b);
    }

    #[test]
    fn bad_ids_are_rejected() {
        assert!("short".parse::<SessionId>().is_err());
        assert!("ZZZZZZZZZZZZZZZZZZZZZZZZZZ".parse::<SessionId>().is_err());
        assert!("0000000000000000000000000U".parse::<SessionId>().is_err());
    }
}

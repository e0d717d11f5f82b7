//! Identifiers: time-sortable session ids and per-session agent thread ids.
//!
//! A [`SessionId`] is 128 bits: 48 bits of milliseconds since the Unix epoch followed by
//! 80 bits of randomness (the ULID layout), shown as 26 characters of Crockford base32.
//! Big-endian bytes sort by creation time, which is what the store's key layout needs.
//! People read and type an id's short form ([`super::short_id`]).

use std::fmt;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Crockford base32, in sort order (ids and their short forms).
pub(super) const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
// Encoded ids are made of these bytes only, so they are always UTF-8.
const _: () = assert!(CROCKFORD.is_ascii());

/// The low `5 × N` bits of `value` as `N` Crockford base32 characters, most significant
/// first.
pub(super) fn crockford<const N: usize>(value: u128) -> [u8; N] {
    let mut out = [0u8; N];
    for (i, slot) in out.iter_mut().enumerate() {
        let shift = 5 * (N - 1 - i);
        *slot = CROCKFORD[((value >> shift) & 0x1f) as usize];
    }
    out
}

/// Characters of [`crockford`] (or their lower case) as text.
pub(super) fn ascii(characters: &[u8]) -> &str {
    // Every byte is one of CROCKFORD's, all ASCII (asserted above).
    std::str::from_utf8(characters).unwrap_or_default()
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Why a string is not an id.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("`{text}` is not a {kind} id (26 characters of Crockford base32)")]
pub struct ParseIdError {
    pub text: String,
    pub kind: &'static str,
}

/// Defines a 128-bit, time-sortable id type (see the module docs).
macro_rules! time_sorted_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub u128);

        impl $name {
            /// A fresh id stamped with the current time.
            pub fn generate() -> Self {
                Self::at(now_ms())
            }

            /// A fresh id stamped with `ms`; ids made in the same millisecond still differ,
            /// and within a process each id sorts after the one made before it.
            pub fn at(ms: u64) -> Self {
                let random = random_u128() & ((1u128 << 80) - 1);
                $name(monotonic((u128::from(ms) << 80) | random))
            }

            pub fn to_bytes(self) -> [u8; 16] {
                self.0.to_be_bytes()
            }

            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                $name(u128::from_be_bytes(bytes))
            }

            /// Milliseconds since the Unix epoch at which the id was made.
            pub fn timestamp_ms(self) -> u64 {
                (self.0 >> 80) as u64
            }

            /// The 8 characters a person reads and types for it (see [`super::short_id`]).
            pub fn short_id(self) -> super::short_id::ShortId {
                super::short_id::ShortId::of(self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(ascii(&encode(self.0)))
            }
        }

        impl FromStr for $name {
            type Err = ParseIdError;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                decode(s).map($name).ok_or_else(|| ParseIdError {
                    text: s.to_string(),
                    kind: $kind,
                })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(ascii(&encode(self.0)))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer.deserialize_str(IdVisitor::<$name>(std::marker::PhantomData))
            }
        }
    };
}

time_sorted_id!(
    /// A session's id; sorts by creation time.
    SessionId,
    "session"
);
time_sorted_id!(
    /// A memory's id (a playbook, note or preference); sorts by creation time.
    MemoryId,
    "memory"
);
time_sorted_id!(
    /// A dream run's id; sorts by creation time.
    DreamId,
    "dream"
);

/// `candidate`, or one more than the last id this process made in the same
/// millisecond if that is larger, so ids made in one millisecond keep their creation
/// order (the timestamp part never changes).
fn monotonic(candidate: u128) -> u128 {
    use std::sync::Mutex;
    static LAST: Mutex<u128> = Mutex::new(0);
    let mut last = LAST
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let same_ms = candidate >> 80 == *last >> 80;
    let next = if same_ms && candidate <= *last && (*last + 1) >> 80 == candidate >> 80 {
        *last + 1
    } else {
        candidate
    };
    *last = next;
    next
}

/// Reads an id from a string as it is, borrowed or not (no copy of its own).
struct IdVisitor<T>(std::marker::PhantomData<T>);

impl<T> serde::de::Visitor<'_> for IdVisitor<T>
where
    T: FromStr<Err = ParseIdError>,
{
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("26 characters of Crockford base32")
    }

    fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<T, E> {
        text.parse().map_err(E::custom)
    }
}

/// An id's 26 characters, on the stack: ids are shown and stored at every event.
fn encode(value: u128) -> [u8; 26] {
    crockford(value)
}

/// The inverse of [`encode`]; case-insensitive, reading `O` as 0 and `I`/`L` as 1.
fn decode(s: &str) -> Option<u128> {
    if s.len() != 26 {
        return None;
    }
    let mut value: u128 = 0;
    for (i, c) in s.bytes().enumerate() {
        let digit = match c.to_ascii_uppercase() {
            b'O' => 0,
            b'I' | b'L' => 1,
            up => CROCKFORD.iter().position(|&a| a == up)? as u128,
        };
        // The first character carries only 3 bits of a 128-bit value.
        if i == 0 && digit > 7 {
            return None;
        }
        value = (value << 5) | digit;
    }
    Some(value)
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
    fn ids_are_stored_as_their_text_and_read_back_however_it_is_escaped() {
        let id = SessionId::at(1_700_000_000_000);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<SessionId>(&json).unwrap(), id);
        // An escaped character makes the reader hand over a string of its own.
        let escaped = format!(
            "\"\\u00{:x}{}\"",
            json.as_bytes()[1],
            &json[2..json.len() - 1]
        );
        assert_eq!(serde_json::from_str::<SessionId>(&escaped).unwrap(), id);
        let err = serde_json::from_str::<SessionId>("\"not-an-id\"").unwrap_err();
        assert!(err.to_string().contains("is not a session id"), "{err}");
        assert!(serde_json::from_str::<SessionId>("42").is_err());
    }

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
    fn ids_made_in_one_millisecond_differ_and_keep_their_order() {
        let a = SessionId::at(5);
        let b = SessionId::at(5);
        assert_ne!(a, b);
        let ids: Vec<MemoryId> = (0..100).map(|_| MemoryId::at(7)).collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn bad_ids_are_rejected() {
        assert!("short".parse::<SessionId>().is_err());
        assert!("ZZZZZZZZZZZZZZZZZZZZZZZZZZ".parse::<SessionId>().is_err());
        assert!("0000000000000000000000000U".parse::<SessionId>().is_err());
    }
}

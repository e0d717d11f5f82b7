//! Checking a whole store: every record of every tree is read back and decoded, and what
//! does not read is named. `lucid store check` prints it; opening a store only checks what
//! sled needs to start, so damage inside records shows here first.

use serde::de::DeserializeOwned;

use super::events::decode_record;
use super::sessions::{decode_key, decode_summary};
use super::{Store, StoreError};

/// Problems listed one by one at most; the rest are counted.
const MAX_LISTED: usize = 20;

/// What a check found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoreHealth {
    /// Records read per tree, in the store's order.
    pub counts: Vec<(&'static str, usize)>,
    /// The first problems found, one sentence each.
    pub problems: Vec<String>,
    /// How many problems there were in all.
    pub problem_count: usize,
}

impl StoreHealth {
    pub fn is_healthy(&self) -> bool {
        self.problem_count == 0
    }

    fn problem(&mut self, text: String) {
        self.problem_count += 1;
        if self.problems.len() < MAX_LISTED {
            self.problems.push(text);
        }
    }
}

impl Store {
    /// Reads back every record of the store.
    pub fn check(&self) -> StoreHealth {
        let mut health = StoreHealth::default();
        let inner = &self.inner;
        let mut sessions = 0;
        for item in inner.sessions.iter() {
            sessions += 1;
            let decoded = item.map_err(StoreError::from).and_then(|(key, value)| {
                decode_key(&key).and_then(|id| decode_summary(id, &value))
            });
            if let Err(err) = decoded {
                health.problem(format!("sessions: {err}"));
            }
        }
        health.counts.push(("sessions", sessions));
        // Events are counted one by one, whatever records hold them.
        let mut events = 0;
        for item in inner.events.iter() {
            match item {
                Ok((key, value)) => match decode_record(&key, &value) {
                    Ok(record) => events += record.len(),
                    Err(err) => {
                        events += 1;
                        health.problem(format!(
                            "events: the event under key {} does not decode: {err}",
                            hex(&key)
                        ));
                    }
                },
                Err(err) => health.problem(format!("events: {}", StoreError::from(err))),
            }
        }
        health.counts.push(("events", events));
        for (name, tree) in [
            ("memories", &inner.memories),
            ("memory versions", &inner.memory_versions),
            ("dreams", &inner.dreams),
            ("digests", &inner.digests),
        ] {
            let count = json_records::<serde_json::Value>(name, tree, &mut health);
            health.counts.push((name, count));
        }
        health
    }
}

/// Counts a tree's records, noting those that are not JSON.
fn json_records<T: DeserializeOwned>(
    name: &str,
    tree: &sled::Tree,
    health: &mut StoreHealth,
) -> usize {
    let mut count = 0;
    for item in tree.iter() {
        count += 1;
        match item {
            Ok((key, value)) => {
                if let Err(err) = serde_json::from_slice::<T>(&value) {
                    health.problem(format!(
                        "{name}: the record under key {} does not decode: {err}",
                        hex(&key)
                    ));
                }
            }
            Err(err) => health.problem(format!("{name}: {}", StoreError::from(err))),
        }
    }
    count
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use crate::store::testing::{event, started, temp_store};

    #[test]
    fn a_sound_store_is_healthy_and_a_bad_record_is_named() {
        let (_dir, store) = temp_store();
        let id = crate::event::SessionId::generate();
        store.append_event(&event(id, 0, started("t"))).unwrap();
        store.flush().unwrap();
        let health = store.check();
        assert!(health.is_healthy(), "{health:?}");
        assert_eq!(health.counts[0], ("sessions", 1));
        assert_eq!(health.counts[1], ("events", 1));

        store
            .inner
            .memories
            .insert(b"m1", b"{not json".to_vec())
            .unwrap();
        store
            .inner
            .events
            .insert(b"bad-key", b"[]".to_vec())
            .unwrap();
        let health = store.check();
        assert_eq!(health.problem_count, 2, "{health:?}");
        assert!(health
            .problems
            .iter()
            .any(|p| p.starts_with("memories: the record under key 6d31")));
        assert!(health
            .problems
            .iter()
            .any(|p| p.starts_with("events: the event under key")));
    }
}

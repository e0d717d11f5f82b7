//! Memories, dream runs and cached session digests as stored records. The store keeps
//! them as JSON under big-endian ids and knows nothing of their meaning; the `memory`
//! and `dream` modules own the types.
//!
//! `memories`: memory id (16 bytes) → the current record. `memory_versions`: memory id
//! ++ version (u32) → every version ever written, so history stays readable. A new
//! version is written to both trees in one transaction. `dreams`: dream id → dream run.
//! `digests`: session id → a dream's cached digest of that session (a cache: dropping it
//! loses nothing a dream cannot recompute from the events).

use serde::de::DeserializeOwned;
use serde::Serialize;
use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::{Store, StoreError};

fn version_key(id: [u8; 16], version: u32) -> [u8; 20] {
    let mut key = [0u8; 20];
    key[..16].copy_from_slice(&id);
    key[16..].copy_from_slice(&version.to_be_bytes());
    key
}

fn encode<T: Serialize>(what: &str, value: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(value)
        .map_err(|err| StoreError::Io(format!("could not encode {what}: {err}")))
}

fn decode<T: DeserializeOwned>(what: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|err| StoreError::Corrupt {
        what: format!("{what}: {err}"),
    })
}

impl Store {
    /// Writes version `version` of a memory and makes it the current record.
    pub fn put_memory<T: Serialize>(
        &self,
        id: [u8; 16],
        version: u32,
        record: &T,
    ) -> Result<(), StoreError> {
        self.put_memories(&[(id, version, record)])
    }

    /// Writes several memory versions in one transaction: all of them or none.
    pub fn put_memories<T: Serialize>(
        &self,
        records: &[([u8; 16], u32, &T)],
    ) -> Result<(), StoreError> {
        let encoded: Vec<([u8; 16], u32, Vec<u8>)> = records
            .iter()
            .map(|(id, version, record)| Ok((*id, *version, encode("a memory", record)?)))
            .collect::<Result<_, StoreError>>()?;
        let result: Result<(), TransactionError<()>> =
            (&self.inner.memories, &self.inner.memory_versions).transaction(
                |(current, versions)| {
                    for (id, version, value) in &encoded {
                        current.insert(&id[..], value.as_slice())?;
                        versions.insert(&version_key(*id, *version)[..], value.as_slice())?;
                    }
                    Ok::<(), ConflictableTransactionError<()>>(())
                },
            );
        result.map_err(|err| match err {
            TransactionError::Storage(err) => StoreError::from(err),
            TransactionError::Abort(()) => StoreError::Io("writing memories was aborted".into()),
        })
    }

    /// One version of a memory.
    pub fn memory_version<T: DeserializeOwned>(
        &self,
        id: [u8; 16],
        version: u32,
    ) -> Result<Option<T>, StoreError> {
        match self.inner.memory_versions.get(version_key(id, version))? {
            Some(bytes) => decode("a memory version", &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The current record of a memory.
    pub fn memory<T: DeserializeOwned>(&self, id: [u8; 16]) -> Result<Option<T>, StoreError> {
        match self.inner.memories.get(id)? {
            Some(bytes) => decode("a memory", &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Every memory's current record, oldest first.
    pub fn memories<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        self.inner
            .memories
            .iter()
            .map(|item| {
                let (_, bytes) = item?;
                decode("a memory", &bytes)
            })
            .collect()
    }

    /// Every version of a memory, oldest first.
    pub fn memory_versions<T: DeserializeOwned>(&self, id: [u8; 16]) -> Result<Vec<T>, StoreError> {
        self.inner
            .memory_versions
            .scan_prefix(id)
            .map(|item| {
                let (_, bytes) = item?;
                decode("a memory version", &bytes)
            })
            .collect()
    }

    /// Records a dream run (replacing an earlier record of the same id).
    pub fn put_dream<T: Serialize>(&self, id: [u8; 16], run: &T) -> Result<(), StoreError> {
        self.inner.dreams.insert(id, encode("a dream run", run)?)?;
        Ok(())
    }

    /// Every dream run, oldest first.
    pub fn dreams<T: DeserializeOwned>(&self) -> Result<Vec<T>, StoreError> {
        self.inner
            .dreams
            .iter()
            .map(|item| {
                let (_, bytes) = item?;
                decode("a dream run", &bytes)
            })
            .collect()
    }
}

impl Store {
    /// Caches a dream's digest of a session (replacing an earlier one).
    pub fn put_digest<T: Serialize>(
        &self,
        session: [u8; 16],
        digest: &T,
    ) -> Result<(), StoreError> {
        self.inner
            .digests
            .insert(session, encode("a session digest", digest)?)?;
        Ok(())
    }

    /// The cached digest of a session, if any. [`StoreError::Corrupt`] when it does not
    /// decode as `T` (e.g. written in an older format).
    pub fn digest<T: DeserializeOwned>(&self, session: [u8; 16]) -> Result<Option<T>, StoreError> {
        match self.inner.digests.get(session)? {
            Some(bytes) => decode("a session digest", &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// How many session digests are cached.
    pub fn digest_count(&self) -> usize {
        self.inner.digests.len()
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use crate::store::Store;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Note {
        text: String,
        version: u32,
    }

    #[test]
    fn every_version_stays_readable_and_the_latest_is_current() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s")).unwrap();
        let a = [1u8; 16];
        let b = [2u8; 16];
        for version in 1..=3 {
            let note = Note {
                text: format!("a{version}"),
                version,
            };
            store.put_memory(a, version, &note).unwrap();
        }
        store
            .put_memory(
                b,
                1,
                &Note {
                    text: "b1".into(),
                    version: 1,
                },
            )
            .unwrap();
        let current: Note = store.memory(a).unwrap().unwrap();
        assert_eq!(current.text, "a3");
        let versions: Vec<Note> = store.memory_versions(a).unwrap();
        assert_eq!(
            versions.iter().map(|n| n.version).collect::<Vec<_>>(),
            [1, 2, 3]
        );
        let all: Vec<Note> = store.memories().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(store.memory::<Note>([9u8; 16]).unwrap(), None);
    }

    #[test]
    fn digests_are_cached_per_session_and_a_foreign_format_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s")).unwrap();
        let note = |text: &str| Note {
            text: text.into(),
            version: 1,
        };
        assert_eq!(store.digest::<Note>([4u8; 16]).unwrap(), None);
        store.put_digest([4u8; 16], &note("first")).unwrap();
        store.put_digest([4u8; 16], &note("second")).unwrap();
        store.put_digest([5u8; 16], &note("other")).unwrap();
        assert_eq!(
            store.digest::<Note>([4u8; 16]).unwrap(),
            Some(note("second"))
        );
        assert_eq!(store.digest_count(), 2);
        assert!(matches!(
            store.digest::<Vec<u32>>([4u8; 16]),
            Err(crate::store::StoreError::Corrupt { .. })
        ));
    }

    #[test]
    fn dream_runs_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s")).unwrap();
        store
            .put_dream(
                [3u8; 16],
                &Note {
                    text: "d".into(),
                    version: 1,
                },
            )
            .unwrap();
        let runs: Vec<Note> = store.dreams().unwrap();
        assert_eq!(runs.len(), 1);
    }
}

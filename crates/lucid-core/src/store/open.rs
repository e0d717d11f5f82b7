//! Opening a store: creating its directory, taking sled's lock (one process at a time),
//! opening the trees, and checking the schema version. Where the default store is, is
//! `config`'s business.

use std::collections::HashMap;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Inner, Store, StoreError};

/// The layout version this build reads and writes.
pub const SCHEMA_VERSION: u32 = 1;

const SCHEMA_KEY: &[u8] = b"schema_version";

/// How long to wait for a lock that a just-closed handle may still be releasing.
const LOCK_WAIT: Duration = Duration::from_secs(1);

impl Store {
    /// Opens the store at `path`, creating it (and missing parent directories) if needed.
    ///
    /// sled releases its lock shortly after the last handle of a store is dropped, not at
    /// once, so a held lock is retried for up to a second before this gives up.
    ///
    /// Fails with [`StoreError::Locked`] when another process holds it,
    /// [`StoreError::NewerSchema`] when a newer lucid wrote it, and [`StoreError::Open`]
    /// for anything else that keeps it from opening.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open_error = |message: String| StoreError::Open {
            path: path.to_path_buf(),
            message,
        };
        std::fs::create_dir_all(path).map_err(|err| open_error(err.to_string()))?;
        let db = retry_while_locked(LOCK_WAIT, || open_db(path))?;
        let tree = |name: &str| {
            db.open_tree(name)
                .map_err(|err| open_error(format!("tree `{name}`: {err}")))
        };
        let inner = Inner {
            sessions: tree("sessions")?,
            events: tree("events")?,
            memories: tree("memories")?,
            memory_versions: tree("memory_versions")?,
            dreams: tree("dreams")?,
            digests: tree("digests")?,
            meta: tree("meta")?,
            path: path.to_path_buf(),
            db,
            live: Mutex::new(HashMap::new()),
        };
        check_schema(&inner)?;
        Ok(Store {
            inner: Arc::new(inner),
        })
    }
}

/// One attempt at opening the sled database.
fn open_db(path: &Path) -> Result<sled::Db, StoreError> {
    let open_error = |message: String| StoreError::Open {
        path: path.to_path_buf(),
        message,
    };
    // Durability comes from the explicit flush at every step boundary, not from a
    // background timer: what a checkpoint did not flush is not promised to survive.
    let config = sled::Config::new().path(path).flush_every_ms(None);
    // sled 0.34 asserts on some damaged files; a store that will not open must be an
    // error the user can act on, not a crash.
    match catch_unwind(AssertUnwindSafe(|| config.open())) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(err)) if is_lock_failure(&err) => Err(StoreError::Locked {
            path: path.to_path_buf(),
        }),
        Ok(Err(err)) => Err(open_error(err.to_string())),
        Err(_) => Err(open_error(
            "the database engine failed while reading its files".to_string(),
        )),
    }
}

/// Repeats `attempt` while it fails with [`StoreError::Locked`], for up to `wait`.
fn retry_while_locked<T>(
    wait: Duration,
    mut attempt: impl FnMut() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let deadline = Instant::now() + wait;
    let mut pause = Duration::from_millis(5);
    loop {
        match attempt() {
            Err(StoreError::Locked { .. }) if Instant::now() + pause < deadline => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(100));
            }
            result => return result,
        }
    }
}

/// sled reports a held lock as an I/O error "could not acquire lock on …".
fn is_lock_failure(err: &sled::Error) -> bool {
    match err {
        sled::Error::Io(io) => {
            io.kind() == io::ErrorKind::WouldBlock
                || io.to_string().contains("could not acquire lock")
        }
        _ => false,
    }
}

/// Writes the version into a fresh store; refuses a store from a newer lucid.
fn check_schema(inner: &Inner) -> Result<(), StoreError> {
    match inner.meta.get(SCHEMA_KEY)? {
        None => {
            inner
                .meta
                .insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
            Ok(())
        }
        Some(bytes) => {
            let found = <[u8; 4]>::try_from(bytes.as_ref())
                .map(u32::from_be_bytes)
                .map_err(|_| StoreError::Corrupt {
                    what: format!("meta `schema_version` is {} bytes, expected 4", bytes.len()),
                })?;
            if found > SCHEMA_VERSION {
                return Err(StoreError::NewerSchema {
                    path: inner.path.clone(),
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::{open_in, temp_store};
    use std::path::PathBuf;

    #[test]
    fn a_second_open_while_the_first_is_open_is_locked_and_names_the_path() {
        let (dir, store) = temp_store();
        let path = dir.path().join("store");
        let err = Store::open(&path).unwrap_err();
        match &err {
            StoreError::Locked { path: locked } => assert_eq!(locked, &path),
            other => panic!("expected Locked, got {other:?}"),
        }
        let message = err.to_string();
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(
            message.contains("in use by another lucid process"),
            "{message}"
        );

        // The refused open leaves the holder working.
        let id = crate::event::SessionId::generate();
        let first = crate::store::testing::event(id, 0, crate::store::testing::started("t"));
        store.append_event(&first).unwrap();
        assert_eq!(store.events(id).unwrap(), vec![first]);

        // Once the holder is gone the store opens again.
        drop(store);
        Store::open(&path).unwrap();
    }

    #[test]
    fn an_open_waits_for_a_lock_that_is_being_released() {
        let (dir, store) = temp_store();
        let holder = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(150));
            drop(store);
        });
        let reopened = open_in(&dir);
        holder.join().unwrap();
        reopened.unwrap();

        let mut attempts = 0;
        let locked = || StoreError::Locked {
            path: PathBuf::from("x"),
        };
        let result = retry_while_locked(Duration::from_secs(5), || {
            attempts += 1;
            if attempts < 3 {
                Err(locked())
            } else {
                Ok(attempts)
            }
        });
        assert_eq!(result.unwrap(), 3);
        let start = Instant::now();
        let gave_up = retry_while_locked(Duration::from_millis(50), || Err::<(), _>(locked()));
        assert!(matches!(gave_up, Err(StoreError::Locked { .. })));
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_fresh_store_records_the_schema_version() {
        let (_dir, store) = temp_store();
        let stored = store.inner.meta.get(SCHEMA_KEY).unwrap().unwrap();
        assert_eq!(stored.as_ref(), &SCHEMA_VERSION.to_be_bytes());
    }

    #[test]
    fn a_store_from_a_newer_lucid_is_refused_with_a_clear_error() {
        let (dir, store) = temp_store();
        let path = dir.path().join("store");
        store
            .inner
            .meta
            .insert(SCHEMA_KEY, &(SCHEMA_VERSION + 1).to_be_bytes())
            .unwrap();
        drop(store);
        let err = open_in(&dir).unwrap_err();
        match &err {
            StoreError::NewerSchema {
                path: at,
                found,
                supported,
            } => {
                assert_eq!(at, &path);
                assert_eq!((*found, *supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
            }
            other => panic!("expected NewerSchema, got {other:?}"),
        }
        assert!(err.to_string().contains(&path.display().to_string()));
    }

    #[test]
    fn a_malformed_schema_version_is_corrupt() {
        let (dir, store) = temp_store();
        store.inner.meta.insert(SCHEMA_KEY, b"v1").unwrap();
        drop(store);
        assert!(matches!(
            open_in(&dir).unwrap_err(),
            StoreError::Corrupt { .. }
        ));
    }

    #[test]
    fn a_path_that_cannot_be_a_directory_is_an_open_error_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("plain-file");
        std::fs::write(&file, b"not a store").unwrap();
        let err = Store::open(&file.join("store")).unwrap_err();
        assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("plain-file"), "{message}");
        assert!(message.contains("--db"), "{message}");
    }
}

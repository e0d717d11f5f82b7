//! Opening a store: creating its directory, taking sled's lock (one process at a time),
//! opening the trees, and checking the schema version. Where the default store is, is
//! `config`'s business.

use std::collections::HashMap;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{Inner, Store, StoreError};

/// The layout version this build reads and writes. 2: event records may hold several
/// events (a JSON array). A version 1 store reads as it is, and is marked 2 when this
/// build first writes events to it, so an older lucid then refuses it rather than
/// misreading it.
pub const SCHEMA_VERSION: u32 = 2;

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
            pending: Mutex::default(),
            schema_marked: AtomicBool::new(false),
        };
        check_schema(&inner)?;
        Ok(Store {
            inner: Arc::new(inner),
        })
    }
}

/// The most bytes of pages sled keeps in memory.
const CACHE_BYTES: u64 = 64 * 1024 * 1024;

/// One attempt at opening the sled database.
fn open_db(path: &Path) -> Result<sled::Db, StoreError> {
    let open_error = |message: String| StoreError::Open {
        path: path.to_path_buf(),
        message,
    };
    // Durability comes from the explicit flush at every step boundary, not from a
    // background timer: what a checkpoint did not flush is not promised to survive.
    // The page cache is bounded (sled's default is 1 GiB): a long run's events are read
    // back rarely, and a process running 10,000 agents must not hold them all.
    let config = sled::Config::new()
        .path(path)
        .flush_every_ms(None)
        .cache_capacity(CACHE_BYTES);
    // sled 0.34 asserts on some damaged files; a store that will not open must be an
    // error the user can act on, not a crash (nor a panic message on the terminal).
    match quietly(|| config.open()) {
        Ok(Ok(db)) => Ok(db),
        Ok(Err(err)) if is_lock_failure(&err) => Err(StoreError::Locked {
            path: path.to_path_buf(),
        }),
        Ok(Err(sled::Error::Corruption { .. })) => Err(damaged(path, None)),
        Ok(Err(err)) => Err(open_error(err.to_string())),
        Err(panic) => Err(damaged(path, Some(panic))),
    }
}

/// The error for a store whose files do not read back, naming its snapshot files (the
/// usual culprit, and the part that can be set aside: sled rebuilds it from the log).
pub(super) fn damaged(path: &Path, engine: Option<String>) -> StoreError {
    let mut snapshots: Vec<std::path::PathBuf> = std::fs::read_dir(path)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| is_snapshot(p))
                .collect()
        })
        .unwrap_or_default();
    snapshots.sort();
    StoreError::Damaged {
        path: path.to_path_buf(),
        snapshots,
        detail: match engine {
            Some(panic) => format!("the database engine stopped while reading it: {panic}"),
            None => "its files fail their checksums or end too early".to_string(),
        },
    }
}

/// sled's snapshot files are `snap.<lsn>` in the store's folder (any file it finds there
/// with that prefix is read as one).
fn is_snapshot(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with("snap.") && !n.ends_with(".in___motion"))
}

thread_local! {
    /// Whether a panic on this thread is being caught by [`quietly`].
    static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The message of the panic [`quietly`] caught.
    static CAUGHT: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

/// Runs `work`, turning a panic into its message instead of letting the panic hook print
/// it. Panics on other threads are printed as before.
pub(super) fn quietly<T>(work: impl FnOnce() -> T) -> Result<T, String> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET.with(std::cell::Cell::get) {
                let message = match info.payload().downcast_ref::<&str>() {
                    Some(text) => (*text).to_string(),
                    None => info
                        .payload()
                        .downcast_ref::<String>()
                        .cloned()
                        .unwrap_or_else(|| "an unexpected failure".into()),
                };
                let place = info
                    .location()
                    .map(|l| format!(" (at {}:{})", l.file(), l.line()))
                    .unwrap_or_default();
                CAUGHT.with(|caught| *caught.borrow_mut() = Some(format!("{message}{place}")));
            } else {
                previous(info);
            }
        }));
    });
    QUIET.with(|quiet| quiet.set(true));
    let result = catch_unwind(AssertUnwindSafe(work));
    QUIET.with(|quiet| quiet.set(false));
    result.map_err(|_| {
        CAUGHT
            .with(|caught| caught.borrow_mut().take())
            .unwrap_or_else(|| "an unexpected failure".into())
    })
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

/// Writes the version into a fresh store; refuses a store from a newer lucid. An older
/// store (whose records this build reads as they are) is marked with this version by
/// the first write of events ([`Inner::mark_schema`]).
fn check_schema(inner: &Inner) -> Result<(), StoreError> {
    match inner.meta.get(SCHEMA_KEY)? {
        None => {
            inner
                .meta
                .insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
            inner.schema_marked.store(true, Ordering::Release);
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
            inner
                .schema_marked
                .store(found == SCHEMA_VERSION, Ordering::Release);
            Ok(())
        }
    }
}

impl Inner {
    /// Marks the store with this build's schema version before the first write in its
    /// layout (a no-op after that).
    pub(super) fn mark_schema(&self) -> Result<(), StoreError> {
        if !self.schema_marked.load(Ordering::Acquire) {
            self.meta
                .insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
            self.schema_marked.store(true, Ordering::Release);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::set_aside;
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
    fn a_panic_while_opening_is_caught_without_the_hook_printing_it() {
        let caught = quietly(|| -> u32 { panic!("segment {} is short", 7) });
        let message = caught.unwrap_err();
        assert!(message.starts_with("segment 7 is short (at "), "{message}");
        assert_eq!(quietly(|| 5), Ok(5));
    }

    /// A store with a snapshot file: written, closed, opened again (sled writes the
    /// snapshot when it opens a store with a log), closed.
    fn store_with_snapshot(dir: &tempfile::TempDir) -> PathBuf {
        let path = dir.path().join("store");
        {
            let store = Store::open(&path).unwrap();
            for i in 0..200u32 {
                store
                    .inner
                    .sessions
                    .insert(i.to_be_bytes(), vec![1u8; 64])
                    .unwrap();
            }
            store.flush().unwrap();
        }
        drop(Store::open(&path).unwrap());
        path
    }

    fn snapshot_of(path: &Path) -> PathBuf {
        std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| is_snapshot(p))
            .expect("sled wrote a snapshot")
    }

    #[test]
    fn a_bad_byte_in_the_snapshot_is_named_with_the_way_out_and_the_way_out_works() {
        let dir = tempfile::tempdir().unwrap();
        let path = store_with_snapshot(&dir);
        let snapshot = snapshot_of(&path);
        let mut bytes = std::fs::read(&snapshot).unwrap();
        let middle = bytes.len() / 2;
        bytes[middle] ^= 0x40;
        std::fs::write(&snapshot, &bytes).unwrap();
        let err = Store::open(&path).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err:?}");
        assert!(!message.contains("writable"), "{message}");
        assert!(message.contains("is damaged"), "{message}");
        assert!(
            message.contains(&snapshot.display().to_string()),
            "{message}"
        );
        assert!(message.contains("lucid store check"), "{message}");
        // The advice: move the snapshot aside; sled rebuilds it from the log.
        let StoreError::Damaged { snapshots, .. } = &err else {
            unreachable!()
        };
        let aside = set_aside(&snapshots[0]);
        std::fs::rename(&snapshots[0], &aside).unwrap();
        let store = Store::open(&path).unwrap();
        assert_eq!(store.inner.sessions.len(), 200);
    }

    #[test]
    fn a_truncated_log_is_damage_not_a_permission_problem() {
        let dir = tempfile::tempdir().unwrap();
        let path = store_with_snapshot(&dir);
        let log = std::fs::OpenOptions::new()
            .write(true)
            .open(path.join("db"))
            .unwrap();
        log.set_len(100).unwrap();
        let message = Store::open(&path).unwrap_err().to_string();
        assert!(message.contains("is damaged"), "{message}");
        assert!(!message.contains("writable"), "{message}");
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

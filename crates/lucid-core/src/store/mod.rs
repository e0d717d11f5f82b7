//! The durable record: one sled database per store holding session summaries, every
//! session's event stream, memories, memory versions, dream runs and the dreams' cache
//! of session digests, under a schema version.
//!
//! Layout (one sled tree each; keys big-endian so a scan visits them in order):
//!
//! | tree | key | value |
//! |---|---|---|
//! | `sessions` | session id (16 bytes) | [`SessionSummary`] as JSON |
//! | `events` | session id (16 bytes) ++ seq (u64) of the record's last event | the events one write covered, a JSON array of [`Event`]s (schema 1: one event, as an object) |
//! | `memories` | memory id | current memory record |
//! | `memory_versions` | memory id ++ version | one version of a memory record |
//! | `dreams` | dream run id | dream run |
//! | `digests` | session id | a dream's digest of the session, cached (the `dream` module owns its format and version) |
//! | `meta` | `schema_version` | u32 |
//!
//! One process owns a store at a time (sled holds a file lock); a second gets
//! [`StoreError::Locked`] naming the path. Appending never fsyncs: the runner makes a
//! finished step durable with [`Store::flush`] (through the event bus's checkpoint),
//! which also writes each session's appended events as one record (`batch`): sled then
//! sees one insert per session per step boundary, not one per event.
//!
//! Files: `open` (opening, locking, schema version, default location), `events` (event
//! streams), `batch` (events waiting for their write), `summary` (the
//! [`SessionSummary`] fold), `sessions` (stored summaries, the live cache, lookup by id
//! prefix), `check` (reading every record back: `lucid store check`), `error`
//! ([`StoreError`]).

mod batch;
mod check;
mod error;
mod events;
mod open;
mod records;
mod sessions;
mod summary;

#[cfg(test)]
pub(crate) mod testing;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::event::{Event, EventSink, SinkError};

pub use check::StoreHealth;
pub use error::{set_aside, StoreError};
pub use open::SCHEMA_VERSION;
pub use summary::{SessionStatus, SessionSummary};

/// A handle on an open store. Clones share the same database; the store closes (and
/// releases its lock) when the last clone is dropped.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    db: sled::Db,
    sessions: sled::Tree,
    events: sled::Tree,
    memories: sled::Tree,
    memory_versions: sled::Tree,
    dreams: sled::Tree,
    digests: sled::Tree,
    meta: sled::Tree,
    /// Summaries of the sessions this handle has appended events to.
    live: Mutex<sessions::LiveSummaries>,
    /// Events appended but not yet written to `events`, per session.
    pending: Mutex<batch::Pending>,
    /// Whether `meta` holds this build's schema version (an older store's is raised by
    /// the first write of events).
    schema_marked: std::sync::atomic::AtomicBool,
}

impl Inner {
    fn live(&self) -> MutexGuard<'_, sessions::LiveSummaries> {
        // Summaries are updated by plain field assignments, so a panic elsewhere while
        // the lock was held cannot leave one half-written.
        self.live.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn pending(&self) -> MutexGuard<'_, batch::Pending> {
        // A batch is only changed by appends of whole encoded events, each finished
        // before anything that could panic; a poisoned batch is still well-formed.
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Best effort: events and summaries are current on disk after the last `flush`;
        // this only saves what came since. sled flushes its trees as they drop.
        let _ = self.write_pending();
        let _ = sessions::save_unsaved(&mut self.live(), &self.sessions);
    }
}

impl Store {
    /// Where the store lives on disk, as given to [`Store::open`].
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Where a session keeps its scratch folders (a project's working copy): kept with
    /// the store, one folder per session.
    pub fn work_dir(&self, session: crate::event::SessionId) -> PathBuf {
        self.inner.path.join("work").join(session.to_string())
    }

    /// Makes everything appended so far durable, session summaries included.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.inner.write_pending()?;
        sessions::save_unsaved(&mut self.inner.live(), &self.inner.sessions)?;
        // The fsync happens outside the summary lock so appends are not held up by it.
        self.inner.db.flush()?;
        Ok(())
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl EventSink for Store {
    fn append(&self, event: &Event) -> Result<(), SinkError> {
        self.append_event(event)
            .map_err(|err| SinkError(err.to_string()))
    }

    fn flush(&self) -> Result<(), SinkError> {
        Store::flush(self).map_err(|err| SinkError(err.to_string()))
    }

    fn recorded(&self, session: crate::event::SessionId) -> Option<Result<Vec<Event>, SinkError>> {
        Some(
            self.events(session)
                .map_err(|err| SinkError(err.to_string())),
        )
    }
}

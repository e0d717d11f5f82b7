//! The memory book: memories over the store, each change a new version that keeps the
//! older ones readable: create, find, list, versions, history, diffs and the playbooks
//! that steer a team's runs. Reviews (approve, reject, retire) are in [`super::review`],
//! a person's edits and reverts in [`super::edit`].

use super::diff::{diff_lines, DiffLine};
use super::history::MemoryRecord;
use super::record::{Author, Memory, MemoryStatus};
use crate::event::{now_ms, MemoryId};
use crate::run::Playbook;
use crate::store::{Store, StoreError};

/// Why a memory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no memory `{0}`; see `lucid memory list`")]
    NotFound(String),
    #[error("`{prefix}` matches {count} memories; give more characters of the id")]
    Ambiguous { prefix: String, count: usize },
    #[error("{0}")]
    Invalid(String),
    /// The memory's status forbids the operation; `hint` says what to do instead.
    #[error("memory {id} is {}; {hint}", status.as_str())]
    Status {
        id: MemoryId,
        status: MemoryStatus,
        hint: &'static str,
    },
    /// An approved update or retirement: it acted on its target and has no content of
    /// its own that steers anything.
    #[error(
        "memory {id} was approved as {} of {target} and has no effect of its own; change {target} instead",
        if *retires { "the retirement" } else { "an update" }
    )]
    ActedThrough {
        id: MemoryId,
        target: MemoryId,
        retires: bool,
    },
    #[error("memory {id} has no version {version} (it has versions 1 to {latest})")]
    NoVersion {
        id: MemoryId,
        version: u32,
        latest: u32,
    },
    /// The change would write a version equal to the current one; `what` says why.
    #[error("memory {id} {what}; nothing changed")]
    Unchanged { id: MemoryId, what: String },
    /// A rules line that is not a rule (one JSON object per line).
    #[error("rules line {line}: {message}; nothing changed")]
    BadRule { line: usize, message: String },
}

/// The version after `memory`, made by `change`.
pub(super) fn next_version(
    mut memory: Memory,
    author: Author,
    reason: &str,
    change: impl FnOnce(&mut Memory),
) -> Memory {
    let id = memory.id;
    change(&mut memory);
    memory.id = id;
    memory.version += 1;
    memory.author = author;
    memory.reason = reason.to_string();
    memory.updated_at_ms = now_ms();
    memory
}

/// Memories of every team, as stored.
#[derive(Clone)]
pub struct MemoryBook {
    store: Store,
}

impl MemoryBook {
    pub fn new(store: Store) -> Self {
        MemoryBook { store }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stores a new memory as version 1 with a fresh id.
    pub fn create(&self, mut memory: Memory) -> Result<Memory, MemoryError> {
        let now = now_ms();
        memory.id = MemoryId::generate();
        memory.version = 1;
        memory.created_at_ms = now;
        memory.updated_at_ms = now;
        self.store.put_memory(memory.id.to_bytes(), 1, &memory)?;
        Ok(memory)
    }

    pub fn get(&self, id: MemoryId) -> Result<Option<Memory>, MemoryError> {
        Ok(self.store.memory(id.to_bytes())?)
    }

    /// A memory by full id or unique prefix (case-insensitive).
    pub fn find(&self, prefix: &str) -> Result<Memory, MemoryError> {
        let wanted = prefix.trim().to_ascii_uppercase();
        if wanted.is_empty() {
            return Err(MemoryError::NotFound(prefix.to_string()));
        }
        let mut matches: Vec<Memory> = self
            .list()?
            .into_iter()
            .filter(|m| m.id.to_string().starts_with(&wanted))
            .collect();
        match matches.len() {
            0 => Err(MemoryError::NotFound(prefix.to_string())),
            1 => Ok(matches.remove(0)),
            count => Err(MemoryError::Ambiguous {
                prefix: prefix.to_string(),
                count,
            }),
        }
    }

    /// Every memory's current version, oldest first.
    pub fn list(&self) -> Result<Vec<Memory>, MemoryError> {
        Ok(self.store.memories()?)
    }

    /// Every version of a memory, oldest first.
    pub fn versions(&self, id: MemoryId) -> Result<Vec<Memory>, MemoryError> {
        Ok(self.store.memory_versions(id.to_bytes())?)
    }

    /// A memory by id, or [`MemoryError::NotFound`].
    pub(super) fn require(&self, id: MemoryId) -> Result<Memory, MemoryError> {
        self.get(id)?
            .ok_or_else(|| MemoryError::NotFound(id.to_string()))
    }

    /// A memory by full id or unique prefix, with every version and its history.
    pub fn record(&self, prefix: &str) -> Result<MemoryRecord, MemoryError> {
        let memory = self.find(prefix)?;
        let versions = self.versions(memory.id)?;
        Ok(MemoryRecord::new(memory, versions))
    }

    /// Stores new versions of one or more memories together, or none of them.
    pub(super) fn put_all(&self, changed: &[Memory]) -> Result<(), MemoryError> {
        let records: Vec<([u8; 16], u32, &Memory)> = changed
            .iter()
            .map(|m| (m.id.to_bytes(), m.version, m))
            .collect();
        self.store.put_memories(&records)?;
        Ok(())
    }

    /// Writes a new version made by `change`; the old one stays readable.
    pub fn revise(
        &self,
        id: MemoryId,
        author: Author,
        reason: &str,
        change: impl FnOnce(&mut Memory),
    ) -> Result<Memory, MemoryError> {
        let current = self.require(id)?;
        let next = next_version(current, author, reason, change);
        self.store.put_memory(id.to_bytes(), next.version, &next)?;
        Ok(next)
    }

    /// The diff from version `from` to version `to` (default: the previous version to
    /// the current one; a first version is diffed against nothing).
    pub fn diff(
        &self,
        id: MemoryId,
        from: Option<u32>,
        to: Option<u32>,
    ) -> Result<Vec<DiffLine>, MemoryError> {
        let versions = self.versions(id)?;
        let latest = versions
            .last()
            .ok_or_else(|| MemoryError::NotFound(id.to_string()))?
            .version;
        let to = to.unwrap_or(latest);
        let from = from.unwrap_or(to.saturating_sub(1));
        let text_of = |version: u32| -> Result<String, MemoryError> {
            if version == 0 {
                return Ok(String::new());
            }
            versions
                .iter()
                .find(|m| m.version == version)
                .map(Memory::content_text)
                .ok_or(MemoryError::NoVersion {
                    id,
                    version,
                    latest,
                })
        };
        Ok(diff_lines(&text_of(from)?, &text_of(to)?))
    }

    /// One version of a memory as a playbook (what a resumed session applies again).
    pub fn playbook_version(
        &self,
        id: MemoryId,
        version: u32,
    ) -> Result<Option<Playbook>, MemoryError> {
        Ok(self
            .store
            .memory_version::<Memory>(id.to_bytes(), version)?
            .map(Memory::into_playbook))
    }

    /// The playbooks that steer a team's next run: its approved playbooks and
    /// preferences (not notes), in the order they were made.
    pub fn active_playbooks(&self, team: &str) -> Result<Vec<Playbook>, MemoryError> {
        // Ids sort by creation time, so the prompt order is the order they were made.
        Ok(self
            .list()?
            .into_iter()
            .filter(|m| m.team == team && m.steers_runs())
            .map(Memory::into_playbook)
            .collect())
    }
}

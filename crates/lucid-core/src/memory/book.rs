//! The memory book: memories over the store, each change a new version that keeps the
//! older ones readable: create, find, list, versions, history, diffs and the playbooks
//! that steer a team's runs. Reviews (approve, reject, retire) are in [`super::review`],
//! a person's edits and reverts in [`super::edit`].

use super::diff::{diff_lines, DiffLine};
use super::history::MemoryRecord;
use super::record::{Author, Memory, MemoryStatus};
use crate::event::{now_ms, Ambiguity, Candidate, IdQuery, MemoryId, Pick};
use crate::run::Playbook;
use crate::store::{Store, StoreError};

/// Why a memory operation failed.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no memory `{0}`; see `lucid memory list`")]
    NotFound(String),
    /// Typed text that names more than one memory.
    #[error(transparent)]
    Ambiguous(Box<crate::event::Ambiguity>),
    #[error("{0}")]
    Invalid(String),
    /// The memory's status forbids the operation; `hint` says what to do instead.
    #[error("memory {} is {}; {hint}", id.short_id(), status.as_str())]
    Status {
        id: MemoryId,
        status: MemoryStatus,
        hint: &'static str,
    },
    /// An approved update or retirement: it acted on its target and has no content of
    /// its own that steers anything.
    #[error(
        "memory {} was approved as {} of {} and has no effect of its own; change {} instead",
        id.short_id(),
        if *retires { "the retirement" } else { "an update" },
        target.short_id(),
        target.short_id()
    )]
    ActedThrough {
        id: MemoryId,
        target: MemoryId,
        retires: bool,
    },
    #[error("memory {} has no version {version} (it has versions 1 to {latest})", id.short_id())]
    NoVersion {
        id: MemoryId,
        version: u32,
        latest: u32,
    },
    /// The change would write a version equal to the current one; `what` says why.
    #[error("memory {} {what}; nothing changed", id.short_id())]
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

    /// The memory that `typed` names: its full id, a prefix of it, or a prefix (of 4
    /// characters or more) of its short id, case-insensitive (see
    /// [`crate::event::short_id`]).
    pub fn find(&self, typed: &str) -> Result<Memory, MemoryError> {
        let Some(query) = IdQuery::parse(typed) else {
            return Err(MemoryError::NotFound(typed.to_string()));
        };
        let matches: Vec<Memory> = self
            .list()?
            .into_iter()
            .filter(|m| query.matches(m.id.0))
            .collect();
        match query.pick(matches, |m| m.id.0) {
            Pick::None => Err(MemoryError::NotFound(typed.to_string())),
            Pick::One(memory) => Ok(memory),
            Pick::Several(matches) => {
                let count = matches.len();
                // Newest first: the sentence names the newest few.
                let candidates = matches
                    .into_iter()
                    .rev()
                    .map(|m| Candidate {
                        short_id: m.id.short_id(),
                        label: m.title,
                        at_ms: m.created_at_ms,
                    })
                    .collect();
                Err(MemoryError::Ambiguous(Box::new(Ambiguity::new(
                    query.typed(),
                    "memories",
                    count,
                    candidates,
                ))))
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::testing::proposal;

    fn book() -> (tempfile::TempDir, MemoryBook) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s")).unwrap();
        (dir, MemoryBook::new(store))
    }

    #[test]
    fn find_takes_a_full_id_a_prefix_or_a_prefix_of_the_short_id() {
        let (_dir, book) = book();
        let made: Vec<Memory> = (0..200)
            .map(|i| book.create(proposal("t", &format!("m{i}"))).unwrap())
            .collect();
        let first = &made[0];
        let full = first.id.to_string();
        assert_eq!(book.find(&full.to_lowercase()).unwrap().id, first.id);
        for memory in &made {
            let short = memory.id.short_id().to_string();
            assert_eq!(book.find(&short).unwrap().id, memory.id, "{short}");
            assert_eq!(book.find(&short.to_uppercase()).unwrap().id, memory.id);
        }
        let unique = made
            .iter()
            .find(|m| {
                let p = &m.id.short_id().to_string()[..4];
                made.iter()
                    .filter(|o| o.id.short_id().to_string().starts_with(p))
                    .count()
                    == 1
                    && !made
                        .iter()
                        .any(|o| o.id.to_string().starts_with(&p.to_uppercase()))
            })
            .unwrap();
        let four = &unique.id.short_id().to_string()[..4];
        assert_eq!(book.find(four).unwrap().id, unique.id);
        assert!(matches!(book.find("zz!"), Err(MemoryError::NotFound(_))));
        assert!(matches!(book.find(""), Err(MemoryError::NotFound(_))));
    }

    #[test]
    fn an_ambiguous_prefix_lists_titles_and_short_ids() {
        let (_dir, book) = book();
        let made: Vec<Memory> = (0..7)
            .map(|i| {
                book.create(proposal("t", &format!("Burn plan {i}")))
                    .unwrap()
            })
            .collect();
        // What the seven ids share (they may straddle a tick of the clock's high bits).
        let ids: Vec<String> = made.iter().map(|m| m.id.to_string()).collect();
        let shared = (0..ids[0].len())
            .take_while(|&i| {
                ids.iter()
                    .all(|id| id.as_bytes()[i] == ids[0].as_bytes()[i])
            })
            .count();
        assert!(shared >= 4, "{ids:?}");
        let typed = &ids[0][..shared.min(8)];
        let text = book.find(typed).unwrap_err().to_string();
        assert!(
            text.starts_with(&format!("`{typed}` matches 7 memories: ")),
            "{text}"
        );
        assert!(
            text.contains(&format!("{} (Burn plan ", made[6].id.short_id())),
            "{text}"
        );
        assert!(text.contains(" and 2 more; "), "{text}");
    }
}

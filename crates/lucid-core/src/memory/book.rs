//! The memory book: every memory operation over the store, each change a new version.

use super::diff::{diff_lines, DiffLine};
use super::record::{Author, Change, Memory, MemoryStatus};
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
}

/// The version after `memory`, made by `change`.
fn next_version(
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

    /// Writes a new version made by `change`; the old one stays readable.
    pub fn revise(
        &self,
        id: MemoryId,
        author: Author,
        reason: &str,
        change: impl FnOnce(&mut Memory),
    ) -> Result<Memory, MemoryError> {
        let current = self
            .get(id)?
            .ok_or_else(|| MemoryError::NotFound(id.to_string()))?;
        let next = next_version(current, author, reason, change);
        self.store.put_memory(id.to_bytes(), next.version, &next)?;
        Ok(next)
    }

    /// Approves a proposal. An update writes its content into the target as the
    /// target's new version; a retirement retires the target. The proposal and its
    /// target change together or not at all. Returns every memory that changed.
    pub fn approve(&self, id: MemoryId, author: Author) -> Result<Vec<Memory>, MemoryError> {
        let proposal = self
            .get(id)?
            .ok_or_else(|| MemoryError::NotFound(id.to_string()))?;
        if proposal.status != MemoryStatus::Proposed {
            return Err(MemoryError::Invalid(format!(
                "memory {id} is {}, not proposed",
                proposal.status.as_str()
            )));
        }
        let target = match proposal.change {
            Change::New => None,
            Change::Update { target } | Change::Retire { target } => {
                let memory = self
                    .get(target)?
                    .ok_or_else(|| MemoryError::NotFound(target.to_string()))?;
                if !memory.is_active() {
                    return Err(MemoryError::Invalid(format!(
                        "memory {id} changes {target}, which is {} now; reject the proposal instead",
                        memory.status.as_str()
                    )));
                }
                Some(memory)
            }
        };
        let mut changed = vec![next_version(
            proposal.clone(),
            author.clone(),
            "approved",
            |m| {
                m.status = MemoryStatus::Approved;
            },
        )];
        if let Some(target) = target {
            let reason = match proposal.change {
                Change::Retire { .. } => format!("retired by {id}"),
                _ => format!("updated by {id}"),
            };
            changed.push(next_version(target, author, &reason, |m| {
                match proposal.change {
                    Change::Retire { .. } => m.status = MemoryStatus::Retired,
                    _ => {
                        m.title = proposal.title.clone();
                        m.body = proposal.body.clone();
                        m.rules = proposal.rules.clone();
                        m.agent = proposal.agent.clone();
                        for citation in &proposal.provenance {
                            if !m.provenance.contains(citation) {
                                m.provenance.push(citation.clone());
                            }
                        }
                    }
                }
            }));
        }
        let records: Vec<([u8; 16], u32, &Memory)> = changed
            .iter()
            .map(|m| (m.id.to_bytes(), m.version, m))
            .collect();
        self.store.put_memories(&records)?;
        Ok(changed)
    }

    /// Rejects a proposal: it will never have an effect.
    pub fn reject(&self, id: MemoryId, author: Author) -> Result<Memory, MemoryError> {
        let memory = self
            .get(id)?
            .ok_or_else(|| MemoryError::NotFound(id.to_string()))?;
        if memory.status != MemoryStatus::Proposed {
            return Err(MemoryError::Invalid(format!(
                "memory {id} is {}, not proposed",
                memory.status.as_str()
            )));
        }
        self.revise(id, author, "rejected", |m| {
            m.status = MemoryStatus::Rejected
        })
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
                .ok_or_else(|| {
                    MemoryError::Invalid(format!("memory {id} has no version {version}"))
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

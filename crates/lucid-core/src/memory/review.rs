//! A person's review of memories: approve (a proposal, or again a rejected or retired
//! memory), reject a proposal, retire an approved memory. Each is a new version whose
//! reason names the [`Action`]; an approval of an update or retirement also changes its
//! target, both or neither. Only approved memories steer runs, so approving and
//! retiring are what change the next run; nothing here edits content (see
//! [`super::edit`]).

use super::book::{next_version, MemoryBook, MemoryError};
use super::history::Action;
use super::record::{Author, Change, Memory, MemoryStatus};
use crate::event::MemoryId;

impl MemoryBook {
    /// Approves a memory: a proposal, or a rejected or retired memory again. An update
    /// writes its content into the target as the target's new version; a retirement
    /// retires the target. The memory and its target change together or not at all.
    /// Returns every memory that changed, the approved one first.
    pub fn approve(&self, id: MemoryId, author: Author) -> Result<Vec<Memory>, MemoryError> {
        let memory = self.require(id)?;
        let action = match memory.status {
            MemoryStatus::Proposed => Action::Approved,
            MemoryStatus::Rejected | MemoryStatus::Retired => {
                Action::Reapproved { was: memory.status }
            }
            MemoryStatus::Approved => {
                return Err(MemoryError::Status {
                    id,
                    status: memory.status,
                    hint: "nothing to approve",
                })
            }
        };
        let changed = self.approval(memory, author, &action, |_| {})?;
        self.put_all(&changed)?;
        Ok(changed)
    }

    /// The versions an approval writes (not stored yet): `memory` changed by `edit` and
    /// approved, then the memory it updates or retires, if any.
    pub(super) fn approval(
        &self,
        memory: Memory,
        author: Author,
        action: &Action,
        edit: impl FnOnce(&mut Memory),
    ) -> Result<Vec<Memory>, MemoryError> {
        let id = memory.id;
        let target = match memory.change {
            Change::New => None,
            Change::Update { target } | Change::Retire { target } => {
                let current = self.require(target)?;
                if !current.is_active() {
                    let hint = match memory.status {
                        MemoryStatus::Proposed => "; reject the proposal instead",
                        _ => "",
                    };
                    return Err(MemoryError::Invalid(format!(
                        "memory {} changes {}, which is {} now{hint}",
                        id.short_id(),
                        target.short_id(),
                        current.status.as_str()
                    )));
                }
                Some(current)
            }
        };
        let approved = next_version(memory, author.clone(), &action.reason(), |m| {
            edit(m);
            m.status = MemoryStatus::Approved;
        });
        let mut changed = Vec::with_capacity(2);
        if let Some(target) = target {
            let (action, content) = match approved.change {
                Change::Retire { .. } => (Action::RetiredBy { proposal: id }, None),
                _ => (Action::UpdatedBy { proposal: id }, Some(&approved)),
            };
            let updated = next_version(target, author, &action.reason(), |m| match content {
                None => m.status = MemoryStatus::Retired,
                Some(proposal) => {
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
            });
            changed.push(approved);
            changed.push(updated);
        } else {
            changed.push(approved);
        }
        Ok(changed)
    }

    /// Rejects a proposal: it will never have an effect (unless approved again later).
    pub fn reject(&self, id: MemoryId, author: Author) -> Result<Memory, MemoryError> {
        let memory = self.require(id)?;
        let hint = match memory.status {
            MemoryStatus::Proposed => None,
            MemoryStatus::Approved => {
                Some("retire it instead (`lucid memory retire`): it then no longer steers runs")
            }
            MemoryStatus::Rejected => Some("nothing to reject"),
            MemoryStatus::Retired => Some("it has no effect already"),
        };
        if let Some(hint) = hint {
            return Err(MemoryError::Status {
                id,
                status: memory.status,
                hint,
            });
        }
        self.revise(id, author, &Action::Rejected.reason(), |m| {
            m.status = MemoryStatus::Rejected
        })
    }

    /// Retires an approved memory: it stays listed and readable, steers no run, and can
    /// be approved again.
    pub fn retire(&self, id: MemoryId, author: Author) -> Result<Memory, MemoryError> {
        let memory = self.require(id)?;
        let hint = match memory.status {
            MemoryStatus::Approved => None,
            MemoryStatus::Proposed => {
                Some("only approved memories retire; reject a proposal instead")
            }
            MemoryStatus::Rejected => Some("it has no effect already"),
            MemoryStatus::Retired => Some("nothing to retire"),
        };
        if let Some(hint) = hint {
            return Err(MemoryError::Status {
                id,
                status: memory.status,
                hint,
            });
        }
        refuse_acted_through(&memory)?;
        self.revise(id, author, &Action::Retired.reason(), |m| {
            m.status = MemoryStatus::Retired
        })
    }
}

/// Refuses to change an approved update or retirement: what it said already lives in
/// (or was done to) its target.
pub(super) fn refuse_acted_through(memory: &Memory) -> Result<(), MemoryError> {
    if memory.status != MemoryStatus::Approved {
        return Ok(());
    }
    match memory.change {
        Change::New => Ok(()),
        Change::Update { target } => Err(MemoryError::ActedThrough {
            id: memory.id,
            target,
            retires: false,
        }),
        Change::Retire { target } => Err(MemoryError::ActedThrough {
            id: memory.id,
            target,
            retires: true,
        }),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::memory::testing::proposal;
    use crate::memory::{history, MemoryKind};
    use crate::store::Store;

    fn book() -> (tempfile::TempDir, MemoryBook) {
        let dir = tempfile::tempdir().unwrap();
        let book = MemoryBook::new(Store::open(&dir.path().join("store")).unwrap());
        (dir, book)
    }

    fn ann() -> Author {
        Author::Person { name: "ann".into() }
    }

    #[test]
    fn a_retired_playbook_steers_nothing_and_can_be_approved_again() {
        let (_dir, book) = book();
        let created = book.create(proposal("t", "Land softly")).unwrap();
        book.approve(created.id, ann()).unwrap();
        assert_eq!(book.active_playbooks("t").unwrap().len(), 1);

        let retired = book.retire(created.id, ann()).unwrap();
        assert_eq!(retired.status, MemoryStatus::Retired);
        assert!(book.active_playbooks("t").unwrap().is_empty());
        assert_eq!(book.list().unwrap().len(), 1, "still listed");
        let again = book.retire(created.id, ann()).unwrap_err();
        assert!(matches!(again, MemoryError::Status { .. }), "{again}");

        let back = book.approve(created.id, ann()).unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].status, MemoryStatus::Approved);
        assert_eq!(back[0].reason, "re-approved (was retired)");
        assert_eq!(book.active_playbooks("t").unwrap().len(), 1);
        let actions: Vec<Action> = history(&book.versions(created.id).unwrap())
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(
            actions,
            [
                Action::Created,
                Action::Approved,
                Action::Retired,
                Action::Reapproved {
                    was: MemoryStatus::Retired
                }
            ]
        );
    }

    #[test]
    fn reject_and_retire_refuse_what_they_do_not_apply_to_and_say_what_to_do() {
        let (_dir, book) = book();
        let a = book.create(proposal("t", "A")).unwrap();
        let err = book.retire(a.id, ann()).unwrap_err();
        assert!(
            err.to_string().contains("reject a proposal instead"),
            "{err}"
        );
        book.approve(a.id, ann()).unwrap();
        let err = book.reject(a.id, ann()).unwrap_err();
        assert!(err.to_string().contains("retire it instead"), "{err}");

        // A rejected proposal comes back when approved, said as a re-approval.
        let b = book.create(proposal("t", "B")).unwrap();
        book.reject(b.id, ann()).unwrap();
        let back = book.approve(b.id, ann()).unwrap();
        assert_eq!(back[0].reason, "re-approved (was rejected)");
        assert_eq!(book.versions(b.id).unwrap().len(), 3);
    }

    #[test]
    fn an_approved_update_changes_its_target_and_then_cannot_itself_be_retired() {
        let (_dir, book) = book();
        let target = book.create(proposal("t", "Old")).unwrap();
        book.approve(target.id, ann()).unwrap();
        let update = book
            .create(Memory {
                change: Change::Update { target: target.id },
                kind: MemoryKind::Playbook,
                ..proposal("t", "New")
            })
            .unwrap();
        book.reject(update.id, ann()).unwrap();
        // Re-approving a rejected update applies it, as approving it first would have.
        let changed = book.approve(update.id, ann()).unwrap();
        assert_eq!(changed.len(), 2);
        assert_eq!(changed[1].id, target.id);
        assert_eq!(changed[1].title, "New");
        assert_eq!(
            changed[1].reason,
            Action::UpdatedBy {
                proposal: update.id
            }
            .reason()
        );
        let err = book.retire(update.id, ann()).unwrap_err();
        assert!(matches!(err, MemoryError::ActedThrough { .. }), "{err}");
    }
}

//! A person's rewrite of a memory's content, as a new version: an [`Edit`] (new title,
//! body or rules) or a [`Revert`] (the content of an earlier version again). Both name
//! what they start from, so a rewrite made while the memory moved on is refused instead
//! of undoing that. Content that steers runs is reviewed: rewriting an approved memory
//! makes it proposed again unless the person approves the rewrite in the same step
//! (`approve`). Shared by `lucid memory edit`/`revert` on an open store and the owner's
//! `POST /v1/memories/{id}/versions` and `…/revert`.

use serde::{Deserialize, Serialize};

use super::book::{next_version, MemoryBook, MemoryError};
use super::history::Action;
use super::record::{Author, Memory, MemoryStatus};
use super::review::refuse_acted_through;
use crate::event::MemoryId;
use crate::world::rules::Rule;

fn is_false(value: &bool) -> bool {
    !*value
}

/// What an edit changes; `None` keeps that part as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Edit {
    /// The version the edit was made from (none: whatever version is current).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<Rule>>,
    /// Approve the edited memory in the same step (else an approved memory goes back to
    /// proposed).
    #[serde(default, skip_serializing_if = "is_false")]
    pub approve: bool,
}

impl Edit {
    /// Whether the edit changes anything in `memory`.
    pub fn changes(&self, memory: &Memory) -> bool {
        self.title.as_ref().is_some_and(|t| *t != memory.title)
            || self.body.as_ref().is_some_and(|b| *b != memory.body)
            || self.rules.as_ref().is_some_and(|r| *r != memory.rules)
    }
}

/// A revert: make the content what version `to` said.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revert {
    pub to: u32,
    /// Approve the result in the same step, as for an [`Edit`].
    #[serde(default, skip_serializing_if = "is_false")]
    pub approve: bool,
}

/// Writes the edit as the memory's new version, by `author`; the new version.
pub fn apply_edit(
    book: &MemoryBook,
    id: MemoryId,
    author: Author,
    edit: Edit,
) -> Result<Memory, MemoryError> {
    if edit.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(MemoryError::Invalid(
            "the title must not be empty; nothing changed".into(),
        ));
    }
    let current = book.require(id)?;
    if let Some(base) = edit.base_version.filter(|&base| base != current.version) {
        return Err(MemoryError::Invalid(format!(
            "memory {} changed while it was edited (the edit was made from version {base}; \
             it is at version {} now); nothing changed, edit it again",
            id.short_id(),
            current.version
        )));
    }
    refuse_acted_through(&current)?;
    if !edit.changes(&current) {
        return Err(MemoryError::Unchanged {
            id,
            what: "already says what the edit says".into(),
        });
    }
    let action = Action::Edited {
        approved: edit.approve,
    };
    rewrite(book, current, author, &action, edit.approve, |m| {
        if let Some(title) = edit.title {
            m.title = title;
        }
        if let Some(body) = edit.body {
            m.body = body;
        }
        if let Some(rules) = edit.rules {
            m.rules = rules;
        }
    })
}

/// Writes a new version whose content (title, body, rules, scope, provenance) is version
/// `revert.to`'s, by `author`; the new version.
pub fn revert(
    book: &MemoryBook,
    id: MemoryId,
    author: Author,
    revert: Revert,
) -> Result<Memory, MemoryError> {
    let versions = book.versions(id)?;
    let Some(current) = versions.last().cloned() else {
        return Err(MemoryError::NotFound(id.to_string()));
    };
    let Some(earlier) = versions.iter().find(|m| m.version == revert.to) else {
        return Err(MemoryError::NoVersion {
            id,
            version: revert.to,
            latest: current.version,
        });
    };
    refuse_acted_through(&current)?;
    let same = earlier.title == current.title
        && earlier.body == current.body
        && earlier.rules == current.rules
        && earlier.agent == current.agent
        && earlier.provenance == current.provenance;
    if same {
        return Err(MemoryError::Unchanged {
            id,
            what: format!("already reads as version {}", revert.to),
        });
    }
    let earlier = earlier.clone();
    let action = Action::Reverted {
        to: revert.to,
        approved: revert.approve,
    };
    rewrite(book, current, author, &action, revert.approve, move |m| {
        m.title = earlier.title;
        m.body = earlier.body;
        m.rules = earlier.rules;
        m.agent = earlier.agent;
        m.provenance = earlier.provenance;
    })
}

/// Writes `current` changed by `content` as its next version. With `approve` the result
/// is approved (with its target, for a proposed update or retirement); without, an
/// approved memory goes back to proposed and any other keeps its status.
fn rewrite(
    book: &MemoryBook,
    current: Memory,
    author: Author,
    action: &Action,
    approve: bool,
    content: impl FnOnce(&mut Memory),
) -> Result<Memory, MemoryError> {
    let id = current.id;
    let changed = if approve {
        book.approval(current, author, action, content)?
    } else {
        let status = match current.status {
            MemoryStatus::Approved => MemoryStatus::Proposed,
            other => other,
        };
        vec![next_version(current, author, &action.reason(), |m| {
            content(m);
            m.status = status;
        })]
    };
    book.put_all(&changed)?;
    changed
        .into_iter()
        .next()
        .ok_or_else(|| MemoryError::NotFound(id.to_string()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::memory::testing::proposal;
    use crate::store::Store;

    fn book() -> (tempfile::TempDir, MemoryBook) {
        let dir = tempfile::tempdir().unwrap();
        let book = MemoryBook::new(Store::open(&dir.path().join("store")).unwrap());
        (dir, book)
    }

    fn body(text: &str) -> Edit {
        Edit {
            body: Some(text.into()),
            ..Edit::default()
        }
    }

    #[test]
    fn an_edit_changes_only_what_it_names_as_a_new_version() {
        let (_dir, book) = book();
        let created = book.create(proposal("t", "Land softly")).unwrap();
        let edit = Edit {
            base_version: Some(1),
            ..body("Burn early.")
        };
        let by = Author::Person { name: "b".into() };
        let saved = apply_edit(&book, created.id, by.clone(), edit).unwrap();
        assert_eq!(saved.version, 2);
        assert_eq!(saved.title, "Land softly");
        assert_eq!(saved.body, "Burn early.");
        assert_eq!(saved.author, by);
        assert_eq!(saved.reason, "edited");
        assert_eq!(saved.status, MemoryStatus::Proposed);
    }

    #[test]
    fn an_edit_of_an_older_version_with_no_title_or_no_change_changes_nothing() {
        let (_dir, book) = book();
        let created = book.create(proposal("t", "Land softly")).unwrap();
        book.reject(created.id, Author::current_person()).unwrap();
        let stale = Edit {
            base_version: Some(1),
            ..body("Burn early.")
        };
        let err = apply_edit(&book, created.id, Author::current_person(), stale).unwrap_err();
        assert!(matches!(err, MemoryError::Invalid(_)), "{err}");
        let untitled = Edit {
            title: Some("  ".into()),
            ..Edit::default()
        };
        let err = apply_edit(&book, created.id, Author::current_person(), untitled).unwrap_err();
        assert!(matches!(err, MemoryError::Invalid(_)), "{err}");
        let same = body("Burn late.");
        let err = apply_edit(&book, created.id, Author::current_person(), same).unwrap_err();
        assert!(matches!(err, MemoryError::Unchanged { .. }), "{err}");
        assert_eq!(book.versions(created.id).unwrap().len(), 2);
    }

    #[test]
    fn an_edited_approved_memory_is_proposed_again_unless_the_edit_is_approved() {
        let (_dir, book) = book();
        let ann = Author::Person { name: "ann".into() };
        let created = book.create(proposal("t", "Land softly")).unwrap();
        book.approve(created.id, ann.clone()).unwrap();
        let saved = apply_edit(&book, created.id, ann.clone(), body("Burn early.")).unwrap();
        assert_eq!(saved.status, MemoryStatus::Proposed);
        assert!(book.active_playbooks("t").unwrap().is_empty());

        book.approve(created.id, ann.clone()).unwrap();
        let approved = Edit {
            approve: true,
            ..body("Burn earlier.")
        };
        let saved = apply_edit(&book, created.id, ann, approved).unwrap();
        assert_eq!(saved.status, MemoryStatus::Approved);
        assert_eq!(saved.reason, "edited and approved");
        assert_eq!(book.active_playbooks("t").unwrap()[0].body, "Burn earlier.");
    }

    #[test]
    fn a_revert_writes_an_earlier_content_as_a_new_version() {
        let (_dir, book) = book();
        let ann = Author::Person { name: "ann".into() };
        let created = book.create(proposal("t", "Land softly")).unwrap();
        book.approve(created.id, ann.clone()).unwrap();
        apply_edit(&book, created.id, ann.clone(), body("Burn early.")).unwrap();
        let to = |to, approve| Revert { to, approve };

        let reverted = revert(&book, created.id, ann.clone(), to(2, false)).unwrap();
        assert_eq!(reverted.version, 4);
        assert_eq!(reverted.body, "Burn late.");
        assert_eq!(reverted.reason, "reverted to v2");
        assert_eq!(reverted.status, MemoryStatus::Proposed, "it was proposed");
        let err = revert(&book, created.id, ann.clone(), to(1, false)).unwrap_err();
        assert!(matches!(err, MemoryError::Unchanged { .. }), "{err}");
        let err = revert(&book, created.id, ann.clone(), to(9, false)).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "memory {} has no version 9 (it has versions 1 to 4)",
                created.id.short_id()
            )
        );

        book.approve(created.id, ann.clone()).unwrap();
        let back = revert(&book, created.id, ann.clone(), to(3, true)).unwrap();
        assert_eq!(
            (back.status, back.body.as_str()),
            (MemoryStatus::Approved, "Burn early.")
        );
        let again = revert(&book, created.id, ann, to(4, false)).unwrap();
        assert_eq!(again.status, MemoryStatus::Proposed, "approval taken back");
    }
}

//! A person's edit of a memory: new title, body or rules, written as a new version. The
//! edit names the version it was made from, so an edit made while the memory moved on
//! (approved, or edited by someone else, meanwhile) is refused instead of undoing that.
//! Shared by `lucid memory edit` on an open store and the owner's
//! `POST /v1/memories/{id}/versions`.

use serde::{Deserialize, Serialize};

use super::book::{MemoryBook, MemoryError};
use super::record::{Author, Memory};
use crate::event::MemoryId;
use crate::world::rules::Rule;

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
}

/// Writes the edit as the memory's new version ("edited"), by `author`.
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
    let current = book
        .get(id)?
        .ok_or_else(|| MemoryError::NotFound(id.to_string()))?;
    if let Some(base) = edit.base_version.filter(|&base| base != current.version) {
        return Err(MemoryError::Invalid(format!(
            "memory {id} changed while it was edited (the edit was made from version {base}; \
             it is at version {} now); nothing changed, edit it again",
            current.version
        )));
    }
    book.revise(id, author, "edited", |m| {
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

    #[test]
    fn an_edit_changes_only_what_it_names_as_a_new_version() {
        let (_dir, book) = book();
        let created = book.create(proposal("t", "Land softly")).unwrap();
        let edit = Edit {
            base_version: Some(1),
            body: Some("Burn early.".into()),
            ..Edit::default()
        };
        let by = Author::Person { name: "b".into() };
        let saved = apply_edit(&book, created.id, by.clone(), edit).unwrap();
        assert_eq!(saved.version, 2);
        assert_eq!(saved.title, "Land softly");
        assert_eq!(saved.body, "Burn early.");
        assert_eq!(saved.author, by);
        assert_eq!(saved.reason, "edited");
    }

    #[test]
    fn an_edit_of_an_older_version_or_with_no_title_changes_nothing() {
        let (_dir, book) = book();
        let created = book.create(proposal("t", "Land softly")).unwrap();
        book.reject(created.id, Author::current_person()).unwrap();
        let stale = Edit {
            base_version: Some(1),
            body: Some("Burn early.".into()),
            ..Edit::default()
        };
        let err = apply_edit(&book, created.id, Author::current_person(), stale).unwrap_err();
        assert!(matches!(err, MemoryError::Invalid(_)), "{err}");
        let untitled = Edit {
            title: Some("  ".into()),
            ..Edit::default()
        };
        let err = apply_edit(&book, created.id, Author::current_person(), untitled).unwrap_err();
        assert!(matches!(err, MemoryError::Invalid(_)), "{err}");
        assert_eq!(book.versions(created.id).unwrap().len(), 2);
    }
}

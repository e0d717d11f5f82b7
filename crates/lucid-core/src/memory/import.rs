//! Importing proposals made outside a dream (Agent Skills folders read by [`super::skill`]):
//! each becomes a new proposed memory unless its team already has one with the same
//! title, body and rules. Shared by `lucid memory import` on an open store and by the
//! owner's `POST /v1/memories`, so both skip the same duplicates. Reading the folders is
//! not done here.

use serde::{Deserialize, Serialize};

use super::book::{MemoryBook, MemoryError};
use super::record::{Change, Memory, MemoryStatus};

/// What became of one imported proposal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Imported {
    /// Stored as a new proposal.
    Created(Box<Memory>),
    /// The team already has this memory; nothing was written.
    Duplicate,
}

/// Stores each proposal as a new proposed memory (whatever status or change it claims:
/// an import never approves anything, nor changes an existing memory), skipping those
/// the team already has. One result per proposal, in order.
pub fn import_proposals(
    book: &MemoryBook,
    proposals: Vec<Memory>,
) -> Result<Vec<Imported>, MemoryError> {
    let existing = book.list()?;
    let mut results = Vec::with_capacity(proposals.len());
    for mut proposal in proposals {
        let duplicate = existing.iter().any(|m| {
            m.team == proposal.team
                && m.title == proposal.title
                && m.body == proposal.body
                && m.rules == proposal.rules
        });
        if duplicate {
            results.push(Imported::Duplicate);
            continue;
        }
        proposal.status = MemoryStatus::Proposed;
        proposal.change = Change::New;
        results.push(Imported::Created(Box::new(book.create(proposal)?)));
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::event::MemoryId;
    use crate::store::Store;

    fn proposal(title: &str, status: MemoryStatus) -> Memory {
        Memory {
            status,
            change: Change::Retire {
                target: MemoryId(7),
            },
            ..crate::memory::testing::proposal("t", title)
        }
    }

    #[test]
    fn imports_arrive_as_new_proposals_and_duplicates_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let book = MemoryBook::new(Store::open(&dir.path().join("store")).unwrap());
        let first = import_proposals(&book, vec![proposal("A", MemoryStatus::Approved)]).unwrap();
        let Imported::Created(created) = &first[0] else {
            panic!("expected a new memory, got {first:?}");
        };
        assert_eq!(created.status, MemoryStatus::Proposed);
        assert_eq!(created.change, Change::New);
        let again = import_proposals(
            &book,
            vec![
                proposal("A", MemoryStatus::Proposed),
                proposal("B", MemoryStatus::Proposed),
            ],
        )
        .unwrap();
        assert_eq!(again[0], Imported::Duplicate);
        assert!(matches!(again[1], Imported::Created(_)));
        assert_eq!(book.list().unwrap().len(), 2);
    }
}

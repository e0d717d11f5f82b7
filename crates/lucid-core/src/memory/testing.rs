//! A memory record for tests: a proposed playbook of a team, version 1, to be stored with
//! [`super::MemoryBook::create`] (which gives it its id).

use super::record::{Author, Change, Memory, MemoryKind, MemoryStatus};
use crate::event::MemoryId;

/// A proposed playbook of `team` titled `title`.
pub fn proposal(team: &str, title: &str) -> Memory {
    Memory {
        id: MemoryId(0),
        version: 1,
        kind: MemoryKind::Playbook,
        team: team.into(),
        agent: None,
        title: title.into(),
        body: "Burn late.".into(),
        rules: Vec::new(),
        status: MemoryStatus::Proposed,
        provenance: Vec::new(),
        author: Author::Person { name: "a".into() },
        change: Change::New,
        key: None,
        created_at_ms: 0,
        updated_at_ms: 0,
        reason: String::new(),
    }
}

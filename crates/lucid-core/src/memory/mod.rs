//! Memory: what a team has learned, in plain text a person can read, edit and veto.
//!
//! A [`Memory`] is a playbook, note or preference scoped to a team (or one agent of it),
//! with optional structured rules, a status (proposed, approved, rejected, retired),
//! provenance citing the sessions it rests on, and an author. Every change writes a new
//! version: a review ([`MemoryBook::approve`], `reject`, `retire`), a person's edit
//! ([`apply_edit`], of the [`text`] a person edits) or revert to an earlier version
//! ([`revert`]); older versions stay readable, any two can be diffed, and the [`history()`]
//! says who did what when. Only approved memories steer runs
//! ([`MemoryBook::active_playbooks`]); a person governs that: approve, reject, retire,
//! approve again, and an edit of an approved memory needs approving again.
//! Memories are exported to and imported from Agent Skills folders (`SKILL.md`) by
//! [`skill`] (stored by [`import_proposals`]). This module does not decide what to
//! remember; dreams propose and people approve.

mod book;
pub mod diff;
mod edit;
mod history;
mod import;
mod record;
mod review;
pub mod skill;
/// Fixtures for the tests of this and other crates.
pub mod testing;
pub mod text;

pub use book::{MemoryBook, MemoryError};
pub use diff::DiffLine;
pub use edit::{apply_edit, revert, Edit, Revert};
pub use history::{history, Action, HistoryEntry, MemoryRecord};
pub use import::{import_proposals, Imported};
pub use record::{Author, Change, Citation, Memory, MemoryKind, MemoryStatus};

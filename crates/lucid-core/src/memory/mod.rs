//! Memory: what a team has learned, in plain text a person can read, edit and veto.
//!
//! A [`Memory`] is a playbook, note or preference scoped to a team (or one agent of it),
//! with optional structured rules, a status (proposed, approved, rejected, retired),
//! provenance citing the sessions it rests on, and an author. Every change writes a new
//! version (a person's edit by [`apply_edit`]); older versions stay readable and any two
//! can be diffed. Only approved memories steer runs ([`MemoryBook::active_playbooks`]).
//! Memories are exported to and imported from Agent Skills folders (`SKILL.md`) by
//! [`skill`] (stored by [`import_proposals`]). This module does not decide what to
//! remember; dreams propose and people approve.

mod book;
pub mod diff;
mod edit;
mod import;
mod record;
pub mod skill;
/// Fixtures for the tests of this and other crates.
pub mod testing;

pub use book::{MemoryBook, MemoryError};
pub use diff::DiffLine;
pub use edit::{apply_edit, Edit};
pub use import::{import_proposals, Imported};
pub use record::{Author, Change, Citation, Memory, MemoryKind, MemoryStatus};

//! Where a `lucid memory` command finds the memories: the store's [`MemoryBook`] when
//! this process can open the store, or the lucid that holds the store and serves it
//! ([`lucid_server::client`]). Each call is the same operation either way, so every
//! memory command has one flow, one output and one set of exit codes whoever holds the
//! store; a failure comes back as an exit code and a sentence.

use std::path::Path;

use super::{exit, Opened};
use lucid_core::event::MemoryId;
use lucid_core::memory::{
    apply_edit, import_proposals, revert, Author, DiffLine, Edit, Imported, Memory, MemoryBook,
    MemoryError, MemoryRecord, MemoryStatus, Revert,
};
use lucid_server::client::{Client, ClientError};

type Failure = (u8, String);

/// The memories of one store.
pub(super) enum Memories {
    /// The store, opened by this process.
    Store(MemoryBook),
    /// The lucid that holds the store.
    Owner(Client),
}

fn local(err: MemoryError) -> Failure {
    let code = match err {
        MemoryError::Store(_) => exit::RUNTIME,
        _ => exit::USAGE,
    };
    (code, err.to_string())
}

fn remote(err: ClientError) -> Failure {
    super::remote::failure(&err)
}

/// The person running this command, as the owner records them.
fn person() -> Option<String> {
    match Author::current_person() {
        Author::Person { name } => Some(name),
        _ => None,
    }
}

impl Memories {
    /// Opens the store at `path`; when another lucid holds it and serves it, the owner's
    /// memories instead.
    pub(super) fn open(path: &Path) -> Result<Memories, Failure> {
        match super::locate(path) {
            Ok(Opened::Store(store)) => Ok(Memories::Store(MemoryBook::new(store))),
            Ok(Opened::Owner(client)) => Ok(Memories::Owner(client)),
            Err(err) => Err((exit::RUNTIME, err.to_string())),
        }
    }

    /// The memories with `status` of `team` (every one when `None`), oldest first.
    pub(super) async fn list(
        &self,
        status: Option<MemoryStatus>,
        team: Option<&str>,
    ) -> Result<Vec<Memory>, Failure> {
        match self {
            Memories::Store(book) => Ok(book
                .list()
                .map_err(local)?
                .into_iter()
                .filter(|m| status.is_none_or(|s| m.status == s))
                .filter(|m| team.is_none_or(|t| m.team == t))
                .collect()),
            Memories::Owner(client) => client.memories(status, team).await.map_err(remote),
        }
    }

    /// A memory by short id or id (or a unique prefix of either).
    pub(super) async fn find(&self, id: &str) -> Result<Memory, Failure> {
        match self {
            Memories::Store(book) => book.find(id).map_err(local),
            Memories::Owner(client) => Ok(client.memory(id).await.map_err(remote)?.memory),
        }
    }

    /// A memory by short id or id (or a unique prefix of either), every version of it (oldest first) and its history.
    pub(super) async fn record(&self, id: &str) -> Result<MemoryRecord, Failure> {
        match self {
            Memories::Store(book) => book.record(id).map_err(local),
            Memories::Owner(client) => client.memory(id).await.map_err(remote),
        }
    }

    /// Version `from` of a memory against version `to` (by default the current version
    /// and the one before it).
    pub(super) async fn diff(
        &self,
        id: MemoryId,
        from: Option<u32>,
        to: Option<u32>,
    ) -> Result<Vec<DiffLine>, Failure> {
        match self {
            Memories::Store(book) => book.diff(id, from, to).map_err(local),
            Memories::Owner(client) => client
                .memory_diff(&id.to_string(), from, to)
                .await
                .map_err(remote),
        }
    }

    /// Approves a proposal (or a rejected or retired memory again); every memory that
    /// changed, the approved one first.
    pub(super) async fn approve(&self, id: MemoryId) -> Result<Vec<Memory>, Failure> {
        match self {
            Memories::Store(book) => book.approve(id, Author::current_person()).map_err(local),
            Memories::Owner(client) => client
                .approve_memory(&id.to_string(), person())
                .await
                .map_err(remote),
        }
    }

    /// Rejects a proposal.
    pub(super) async fn reject(&self, id: MemoryId) -> Result<Memory, Failure> {
        match self {
            Memories::Store(book) => book.reject(id, Author::current_person()).map_err(local),
            Memories::Owner(client) => client
                .reject_memory(&id.to_string(), person())
                .await
                .map_err(remote),
        }
    }

    /// Retires an approved memory.
    pub(super) async fn retire(&self, id: MemoryId) -> Result<Memory, Failure> {
        match self {
            Memories::Store(book) => book.retire(id, Author::current_person()).map_err(local),
            Memories::Owner(client) => client
                .retire_memory(&id.to_string(), person())
                .await
                .map_err(remote),
        }
    }

    /// Writes a new version with the content of an earlier one.
    pub(super) async fn revert(&self, id: MemoryId, to: Revert) -> Result<Memory, Failure> {
        match self {
            Memories::Store(book) => revert(book, id, Author::current_person(), to).map_err(local),
            Memories::Owner(client) => client
                .revert_memory(&id.to_string(), to, person())
                .await
                .map_err(remote),
        }
    }

    /// Writes a person's edit as the memory's new version.
    pub(super) async fn edit(&self, id: MemoryId, edit: Edit) -> Result<Memory, Failure> {
        match self {
            Memories::Store(book) => {
                apply_edit(book, id, Author::current_person(), edit).map_err(local)
            }
            Memories::Owner(client) => client
                .revise_memory(&id.to_string(), edit, person())
                .await
                .map_err(remote),
        }
    }

    /// Stores proposals the team does not have yet; one result per proposal.
    pub(super) async fn import(&self, proposals: Vec<Memory>) -> Result<Vec<Imported>, Failure> {
        match self {
            Memories::Store(book) => import_proposals(book, proposals).map_err(local),
            Memories::Owner(client) => client.import_memories(proposals).await.map_err(remote),
        }
    }

    /// Makes what this process wrote durable (the owner flushes its own writes).
    pub(super) fn flush(&self) -> Result<(), Failure> {
        match self {
            Memories::Store(book) => book
                .store()
                .flush()
                .map_err(|err| (exit::RUNTIME, err.to_string())),
            Memories::Owner(_) => Ok(()),
        }
    }
}

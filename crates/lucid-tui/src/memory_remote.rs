//! The Memory view's records from the lucid that holds the store: [`RemoteMemory`]
//! implements the runtime's [`MemoryBackend`] over the owner's memory endpoints, for a
//! TUI that is a client of another lucid. Items and messages are made as from the store
//! ([`memory_backend::item`], text sanitized); approve, reject, retire and edit happen in
//! the owner; export writes the skill folder here. The runtime calls it on blocking threads,
//! so each call waits for its request on the runtime it was made from; this module does
//! not decide when to be a client.

use std::future::Future;
use std::path::PathBuf;

use super::memory_backend::{approved_message, item, retired_message, saved_message};
use super::memory_state::{Edit, MemoryItem};
use super::runtime::MemoryBackend;
use lucid_core::event::{one_line, sanitize};
use lucid_core::memory::{Author, Memory};
use lucid_server::client::{Client, ClientError};

/// Memories as the store's owner serves them.
pub struct RemoteMemory {
    client: Client,
    /// Where `x` writes skill folders.
    export_dir: PathBuf,
}

impl RemoteMemory {
    pub fn new(client: Client, export_dir: PathBuf) -> Self {
        RemoteMemory { client, export_dir }
    }

    /// Waits for a request on the current runtime (from a blocking thread, never from an
    /// async task); failures as one sanitized sentence.
    fn wait<T>(&self, request: impl Future<Output = Result<T, ClientError>>) -> Result<T, String> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| "the memory view has no async runtime to reach the store's owner")?;
        runtime
            .block_on(request)
            .map_err(|err| sanitize(&err.to_string()))
    }

    fn find(&self, id: &str) -> Result<Memory, String> {
        self.wait(self.client.memory(id))
            .map(|record| record.memory)
    }
}

/// The person using this window, as the owner records them.
fn person() -> Option<String> {
    match Author::current_person() {
        Author::Person { name } => Some(name),
        _ => None,
    }
}

impl MemoryBackend for RemoteMemory {
    fn list(&self) -> Result<Vec<MemoryItem>, String> {
        let records = self.wait(self.client.memory_records())?;
        Ok(records.iter().map(item).collect())
    }

    fn approve(&self, id: &str) -> Result<String, String> {
        let changed = self.wait(self.client.approve_memory(id, person()))?;
        Ok(approved_message(&changed))
    }

    fn reject(&self, id: &str) -> Result<String, String> {
        let rejected = self.wait(self.client.reject_memory(id, person()))?;
        Ok(format!("rejected “{}”", one_line(&rejected.title, 60)))
    }

    fn retire(&self, id: &str) -> Result<String, String> {
        let retired = self.wait(self.client.retire_memory(id, person()))?;
        Ok(retired_message(&retired))
    }

    fn save_edit(&self, id: &str, edit: Edit) -> Result<String, String> {
        let saved = self.wait(self.client.revise_memory(id, edit, person()))?;
        let record = self.wait(self.client.memory(&saved.id.to_string()))?;
        Ok(saved_message(&record))
    }

    fn export(&self, id: &str) -> Result<String, String> {
        let memory = self.find(id)?;
        let folders =
            lucid_core::memory::skill::export(std::slice::from_ref(&memory), &self.export_dir)
                .map_err(|err| sanitize(&err.to_string()))?;
        let folder = folders
            .first()
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| self.export_dir.display().to_string());
        Ok(format!("exported as a skill to {}", sanitize(&folder)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use std::sync::Arc;

    use super::*;
    use lucid_core::memory::{MemoryBook, MemoryStatus};
    use lucid_core::store::Store;

    /// Calls the backend as the runtime does: on a blocking thread.
    async fn call<T: Send + 'static>(
        backend: &Arc<RemoteMemory>,
        work: impl FnOnce(&RemoteMemory) -> T + Send + 'static,
    ) -> T {
        let backend = Arc::clone(backend);
        tokio::task::spawn_blocking(move || work(&backend))
            .await
            .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_memory_view_reviews_through_the_owner() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let book = MemoryBook::new(store.clone());
        let proposed = book
            .create(lucid_core::memory::testing::proposal(
                "t",
                "Land \u{1b}[31msoftly",
            ))
            .unwrap();
        let other = book
            .create(lucid_core::memory::testing::proposal("t", "Burn early"))
            .unwrap();
        let server = lucid_server::start(store.clone(), lucid_envs::worlds()).unwrap();
        let exports = dir.path().join("skills");
        let backend = Arc::new(RemoteMemory::new(
            Client::new(store.path()),
            exports.clone(),
        ));

        let items = call(&backend, |b| b.list()).await.unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].id, proposed.id.to_string());
        assert!(!items[0].title.contains('\u{1b}'), "{:?}", items[0].title);
        assert_eq!(items[0].versions.len(), 1);

        let id = proposed.id.to_string();
        let approved = call(&backend, {
            let id = id.clone();
            move |b| b.approve(&id)
        })
        .await
        .unwrap();
        assert!(approved.starts_with("approved “Land"), "{approved}");
        // An edit of an approved memory is proposed again unless approved with it.
        let edit = |body: &str, approve| Edit {
            body: Some(body.into()),
            approve,
            ..Edit::default()
        };
        let unapproved = edit("Burn sooner.", false);
        let saved = call(&backend, {
            let id = id.clone();
            move |b| b.save_edit(&id, unapproved)
        })
        .await
        .unwrap();
        assert!(
            saved.starts_with(
                "saved “Land softly” as version 3: it was approved, so it is proposed again"
            ),
            "{saved}"
        );
        let approved_edit = edit("Burn later.", true);
        let saved = call(&backend, {
            let id = id.clone();
            move |b| b.save_edit(&id, approved_edit)
        })
        .await
        .unwrap();
        assert_eq!(saved, "saved and approved “Land softly” as version 4");
        let current = book.get(proposed.id).unwrap().unwrap();
        assert_eq!(
            (current.status, current.body.as_str()),
            (MemoryStatus::Approved, "Burn later.")
        );

        // The owner's refusal comes back as its sentence; nothing changes.
        let refused = call(&backend, {
            let id = id.clone();
            move |b| b.reject(&id)
        })
        .await
        .unwrap_err();
        assert!(refused.contains("retire it instead"), "{refused}");
        // Retire, and approve again.
        let retired = call(&backend, {
            let id = id.clone();
            move |b| b.retire(&id)
        })
        .await
        .unwrap();
        assert!(retired.starts_with("retired “Land softly”"), "{retired}");
        assert_eq!(
            book.get(proposed.id).unwrap().unwrap().status,
            MemoryStatus::Retired
        );
        let again = call(&backend, {
            let id = id.clone();
            move |b| b.approve(&id)
        })
        .await
        .unwrap();
        assert!(again.contains("again (it was retired)"), "{again}");
        let items = call(&backend, |b| b.list()).await.unwrap();
        assert_eq!(items[0].history.len(), 6);
        assert!(items[0].history[2].needs_review);
        let other_id = other.id.to_string();
        let rejected = call(&backend, move |b| b.reject(&other_id)).await.unwrap();
        assert_eq!(rejected, "rejected “Burn early”");

        let exported = call(&backend, move |b| b.export(&id)).await.unwrap();
        assert!(exported.starts_with("exported as a skill to"), "{exported}");
        let folders: Vec<_> = std::fs::read_dir(&exports).unwrap().collect();
        assert_eq!(folders.len(), 1);
        let skill = folders[0].as_ref().unwrap().path().join("SKILL.md");
        assert!(std::fs::read_to_string(skill)
            .unwrap()
            .contains("Burn later."));
        server.stop().await;
    }
}

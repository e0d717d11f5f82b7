//! The Memory view's records from the store: [`StoreMemory`] implements the runtime's
//! [`MemoryBackend`] over [`MemoryBook`], turning memory records into the view's plain
//! [`MemoryItem`]s (text sanitized) and carrying out approve (or approve again), reject,
//! retire, edit (a new version) and export (an Agent Skills folder). The footer messages
//! are made here ([`approved_message`], [`saved_message`]) for the remote backend too.
//! Every call blocks on sled; the runtime makes them on blocking threads.

use std::path::PathBuf;

use super::memory_state::{Citation, Edit, HistoryLine, MemoryItem, MemoryVersion};
use super::runtime::MemoryBackend;
use lucid_core::event::{one_line, sanitize};
use lucid_core::memory::text::rule_lines;
use lucid_core::memory::{apply_edit, Action, Author, Memory, MemoryBook, MemoryRecord};
use lucid_core::store::Store;

/// Memories as stored.
pub struct StoreMemory {
    book: MemoryBook,
    /// Where `x` writes skill folders.
    export_dir: PathBuf,
}

impl StoreMemory {
    pub fn new(store: Store, export_dir: PathBuf) -> Self {
        StoreMemory {
            book: MemoryBook::new(store),
            export_dir,
        }
    }

    fn find(&self, id: &str) -> Result<Memory, String> {
        self.book.find(id).map_err(|err| err.to_string())
    }

    fn flush(&self) -> Result<(), String> {
        self.book.store().flush().map_err(|err| err.to_string())
    }
}

/// The view's copy of a record, its versions and history.
pub fn item(record: &MemoryRecord) -> MemoryItem {
    let memory = &record.memory;
    MemoryItem {
        id: memory.id.to_string(),
        short_id: memory.id.short_id().to_string(),
        title: one_line(&memory.title, 200),
        kind: memory.kind.as_str().to_string(),
        scope: sanitize(&memory.scope()),
        status: memory.status,
        version: memory.version,
        body: sanitize(&memory.body),
        rules: rule_lines(&memory.rules)
            .iter()
            .map(|line| sanitize(line))
            .collect(),
        provenance: memory
            .provenance
            .iter()
            .map(|c| Citation {
                session: c.session,
                note: one_line(&c.summary, 200),
            })
            .collect(),
        versions: record
            .versions
            .iter()
            .map(|v| MemoryVersion {
                version: v.version,
                body: sanitize(&v.content_text()),
            })
            .collect(),
        author: sanitize(&memory.author.describe()),
        history: record
            .history
            .iter()
            .map(|h| HistoryLine {
                version: h.version,
                at_ms: h.at_ms,
                by: one_line(&h.by.describe(), 60),
                summary: one_line(&h.summary, 200),
                needs_review: h.needs_review(),
            })
            .collect(),
    }
}

/// What an approval did, for the footer: `changed` as the book returns it (the approved
/// memory first).
pub fn approved_message(changed: &[Memory]) -> String {
    let Some(first) = changed.first() else {
        return "nothing changed".into();
    };
    let title = one_line(&first.title, 60);
    let again = match Action::from_reason(first.version, &first.reason) {
        Action::Reapproved { was } => format!(" again (it was {})", was.as_str()),
        _ => String::new(),
    };
    match changed.len() {
        1 => format!("approved “{title}”{again}; it steers the team's next run"),
        n => format!("approved “{title}”{again} ({n} memories changed)"),
    }
}

/// What saving an edit did, for the footer, from the memory's record after it.
pub fn saved_message(record: &MemoryRecord) -> String {
    let memory = &record.memory;
    let title = one_line(&memory.title, 60);
    let version = memory.version;
    let last = record.history.last();
    if last.is_some_and(|h| h.needs_review()) {
        return format!(
            "saved “{title}” as version {version}: it was approved, so it is proposed again \
             and steers no run until approved (a)"
        );
    }
    match last.map(|h| &h.action) {
        Some(Action::Edited { approved: true }) => {
            format!("saved and approved “{title}” as version {version}")
        }
        _ => format!(
            "saved “{title}” as version {version} ({})",
            memory.status.as_str()
        ),
    }
}

/// What a retirement did, for the footer.
pub fn retired_message(retired: &Memory) -> String {
    format!(
        "retired “{}”: it no longer steers runs (a approves it again)",
        one_line(&retired.title, 60)
    )
}

impl MemoryBackend for StoreMemory {
    fn list(&self) -> Result<Vec<MemoryItem>, String> {
        let memories = self.book.list().map_err(|err| err.to_string())?;
        memories
            .into_iter()
            .map(|memory| {
                let versions = self
                    .book
                    .versions(memory.id)
                    .map_err(|err| err.to_string())?;
                Ok(item(&MemoryRecord::new(memory, versions)))
            })
            .collect()
    }

    fn approve(&self, id: &str) -> Result<String, String> {
        let memory = self.find(id)?;
        let changed = self
            .book
            .approve(memory.id, Author::current_person())
            .map_err(|err| err.to_string())?;
        self.flush()?;
        Ok(approved_message(&changed))
    }

    fn reject(&self, id: &str) -> Result<String, String> {
        let memory = self.find(id)?;
        self.book
            .reject(memory.id, Author::current_person())
            .map_err(|err| err.to_string())?;
        self.flush()?;
        Ok(format!("rejected “{}”", one_line(&memory.title, 60)))
    }

    fn retire(&self, id: &str) -> Result<String, String> {
        let memory = self.find(id)?;
        let retired = self
            .book
            .retire(memory.id, Author::current_person())
            .map_err(|err| err.to_string())?;
        self.flush()?;
        Ok(retired_message(&retired))
    }

    fn save_edit(&self, id: &str, edit: Edit) -> Result<String, String> {
        let memory = self.find(id)?;
        apply_edit(&self.book, memory.id, Author::current_person(), edit)
            .map_err(|err| err.to_string())?;
        self.flush()?;
        let record = self
            .book
            .record(&memory.id.to_string())
            .map_err(|err| err.to_string())?;
        Ok(saved_message(&record))
    }

    fn export(&self, id: &str) -> Result<String, String> {
        let memory = self.find(id)?;
        let folders =
            lucid_core::memory::skill::export(std::slice::from_ref(&memory), &self.export_dir)
                .map_err(|err| err.to_string())?;
        let folder = folders
            .first()
            .map(|f| f.display().to_string())
            .unwrap_or_else(|| self.export_dir.display().to_string());
        Ok(format!("exported as a skill to {folder}"))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use lucid_core::memory::testing::proposal;
    use lucid_core::memory::MemoryStatus;

    #[test]
    fn the_store_backend_retires_approves_again_and_says_when_an_edit_needs_approval() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("store")).unwrap();
        let book = MemoryBook::new(store.clone());
        let created = book.create(proposal("t", "Land softly")).unwrap();
        let backend = StoreMemory::new(store, dir.path().join("skills"));
        let id = created.id.to_string();

        backend.approve(&id).unwrap();
        let retired = backend.retire(&id).unwrap();
        assert!(retired.starts_with("retired “Land softly”"), "{retired}");
        assert!(book.active_playbooks("t").unwrap().is_empty());
        let again = backend.approve(&id).unwrap();
        assert!(again.contains("again (it was retired)"), "{again}");

        let body = |text: &str, approve| Edit {
            base_version: Some(book.get(created.id).unwrap().unwrap().version),
            body: Some(text.into()),
            approve,
            ..Edit::default()
        };
        let saved = backend.save_edit(&id, body("Burn early.", false)).unwrap();
        assert!(saved.contains("it is proposed again"), "{saved}");
        let saved = backend.save_edit(&id, body("Burn earlier.", true)).unwrap();
        assert_eq!(saved, "saved and approved “Land softly” as version 6");
        let stale = backend.save_edit(
            &id,
            Edit {
                base_version: Some(2),
                ..body("Burn later.", false)
            },
        );
        assert!(stale.unwrap_err().contains("changed while it was edited"));

        let items = backend.list().unwrap();
        assert_eq!(items[0].status, MemoryStatus::Approved);
        let history: Vec<&str> = items[0]
            .history
            .iter()
            .map(|h| h.summary.as_str())
            .collect();
        assert_eq!(history[2], "retired");
        assert!(items[0].history[4].needs_review);
        assert_eq!(history[5], "edited and approved");
    }
}

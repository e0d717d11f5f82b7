//! The Memory view's records from the store: [`StoreMemory`] implements the runtime's
//! [`MemoryBackend`] over [`MemoryBook`], turning memory records into the view's plain
//! [`MemoryItem`]s (text sanitized) and carrying out approve, reject, edit (a new
//! version) and export (an Agent Skills folder). Every call blocks on sled; the runtime
//! makes them on blocking threads.

use std::path::PathBuf;

use super::memory_state::{Citation, MemoryItem, MemoryVersion};
use super::runtime::MemoryBackend;
use lucid_core::event::{one_line, sanitize};
use lucid_core::memory::{Author, Memory, MemoryBook};
use lucid_core::store::Store;
use lucid_core::world::rules::render_rules;

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

/// The view's copy of a record and its versions.
pub fn item(memory: &Memory, versions: &[Memory]) -> MemoryItem {
    MemoryItem {
        id: memory.id.to_string(),
        title: one_line(&memory.title, 200),
        kind: memory.kind.as_str().to_string(),
        scope: sanitize(&memory.scope()),
        status: memory.status,
        version: memory.version,
        body: sanitize(&memory.body),
        rules: render_rules(&memory.rules)
            .lines()
            .map(sanitize)
            .filter(|line| !line.trim().is_empty())
            .collect(),
        provenance: memory
            .provenance
            .iter()
            .map(|c| Citation {
                session: c.session,
                note: one_line(&c.summary, 200),
            })
            .collect(),
        versions: versions
            .iter()
            .map(|v| MemoryVersion {
                version: v.version,
                body: sanitize(&v.content_text()),
            })
            .collect(),
        author: sanitize(&memory.author.describe()),
    }
}

impl MemoryBackend for StoreMemory {
    fn list(&self) -> Result<Vec<MemoryItem>, String> {
        let memories = self.book.list().map_err(|err| err.to_string())?;
        memories
            .iter()
            .map(|memory| {
                let versions = self
                    .book
                    .versions(memory.id)
                    .map_err(|err| err.to_string())?;
                Ok(item(memory, &versions))
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
        Ok(match changed.len() {
            0 | 1 => format!(
                "approved “{}”; it steers the team's next run",
                one_line(&memory.title, 60)
            ),
            n => format!(
                "approved “{}” ({} memories changed)",
                one_line(&memory.title, 60),
                n
            ),
        })
    }

    fn reject(&self, id: &str) -> Result<String, String> {
        let memory = self.find(id)?;
        self.book
            .reject(memory.id, Author::current_person())
            .map_err(|err| err.to_string())?;
        self.flush()?;
        Ok(format!("rejected “{}”", one_line(&memory.title, 60)))
    }

    fn save_edit(&self, id: &str, body: &str) -> Result<String, String> {
        let memory = self.find(id)?;
        let saved = self
            .book
            .revise(memory.id, Author::current_person(), "edited", |m| {
                m.body = body.to_string();
            })
            .map_err(|err| err.to_string())?;
        self.flush()?;
        Ok(format!(
            "saved “{}” as version {}",
            one_line(&memory.title, 60),
            saved.version
        ))
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

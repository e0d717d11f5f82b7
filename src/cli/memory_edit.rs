//! `lucid memory edit ID [--approve]`: a memory's title, body and rules in `$EDITOR`
//! (the text of [`lucid_core::memory::text`]), saved as a new version in the store or
//! through its owner. Nothing holds the store while the editor is open; the edit names
//! the version it was made from and is refused if the memory moved on meanwhile. An
//! approved memory comes back proposed unless `--approve`, and the output says so.

use std::path::Path;

use super::exit;
use super::memories::Memories;
use super::memory::status_note;
use lucid_core::memory::text::{editable_text, read_editable_text};
use lucid_core::memory::{Edit, Memory};

type Failure = (u8, String);

/// Edits a memory in `$EDITOR`. The store (if opened here) is let go while the editor
/// is open and opened again to save, so runs and other commands (or a TUI) can take it
/// meanwhile.
pub(super) async fn edit(
    memories: Memories,
    path: &Path,
    id: &str,
    approve: bool,
) -> Result<(), Failure> {
    let memory = memories.find(id).await?;
    drop(memories);
    let Some(edit) = edit_in_editor(&memory)? else {
        outln!("No changes.");
        return Ok(());
    };
    let memories = Memories::open(path)?;
    let revised = memories.edit(memory.id, Edit { approve, ..edit }).await;
    let flushed = memories.flush();
    let revised = revised?;
    flushed?;
    outln!(
        "saved {} as version {}{}",
        revised.id.short_id(),
        revised.version,
        status_note(memory.status, &revised)
    );
    Ok(())
}

/// Runs `$VISUAL`/`$EDITOR` on the memory's text; the edit, or `None` if nothing changed.
fn edit_in_editor(memory: &Memory) -> Result<Option<Edit>, Failure> {
    let dir = std::env::temp_dir().join(format!("lucid-edit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)
        .map_err(|e| (exit::RUNTIME, format!("{}: {e}", dir.display())))?;
    let file = dir.join(format!("{}.md", memory.id));
    let before = editable_text(memory);
    std::fs::write(&file, &before)
        .map_err(|e| (exit::RUNTIME, format!("{}: {e}", file.display())))?;
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|name| std::env::var(name).ok())
        .find(|value| !value.trim().is_empty())
        .unwrap_or_else(|| "vi".into());
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("lucid-edit")
        .arg(&file)
        .status()
        .map_err(|e| {
            (
                exit::RUNTIME,
                format!("cannot start the editor `{editor}`: {e}"),
            )
        })?;
    let after = std::fs::read_to_string(&file)
        .map_err(|e| (exit::RUNTIME, format!("{}: {e}", file.display())));
    let _ = std::fs::remove_dir_all(&dir);
    if !status.success() {
        return Err((
            exit::RUNTIME,
            format!("the editor `{editor}` failed ({status}); nothing changed"),
        ));
    }
    let after = after?;
    if after == before {
        return Ok(None);
    }
    read_editable_text(&after, memory).map_err(|err| (exit::USAGE, err.to_string()))
}

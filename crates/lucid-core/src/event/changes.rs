//! What a session changed in a project's files, as recorded: one entry per file with the
//! content hashes on either side, and a unified diff for people to read.

use serde::{Deserialize, Serialize};

/// How a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Added => "added",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
        }
    }
}

/// One changed file: its path relative to the project, and the SHA-256 of its content
/// before and after (`None` where the file does not exist).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: String,
    pub change: ChangeKind,
    pub before: Option<String>,
    pub after: Option<String>,
    pub lines_added: u32,
    pub lines_removed: u32,
    /// Not text (or too big to compare by lines): the diff names it without lines.
    pub binary: bool,
}

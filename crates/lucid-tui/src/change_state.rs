//! What a `project` session changed in its files, as the Run view shows it: the latest
//! `FilesChanged` event folded into a [`Changes`] (the counts for the one-line summary and
//! the diff split into classified lines for the diff overlay).
//!
//! The fold is part of [`super::run_state::RunState::apply`], so the live view and a replay
//! build the same thing. The diff comes from files the models wrote: every line is
//! sanitized here, once, so the overlay can never draw a control sequence. This module
//! does not know keys, scrolling or styles; it only says what kind each line is.

use lucid_core::event::{sanitize, ChangeKind, FileChange};

/// What a line of the diff is, for its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffLineKind {
    /// `diff …`, `--- a/…`, `+++ b/…`, `Binary files … differ`.
    File,
    /// `@@ -1,3 +1,4 @@`.
    Hunk,
    Added,
    Removed,
    Context,
    /// `\ No newline at end of file`, the note that the diff was cut, anything else.
    Note,
}

/// One sanitized line of the diff.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffLine {
    pub kind: DiffLineKind,
    pub text: String,
}

/// One changed file, sanitized.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedFile {
    pub path: String,
    pub change: ChangeKind,
    pub lines_added: u32,
    pub lines_removed: u32,
    pub binary: bool,
}

/// The change set a session recorded last (each attempt records the whole change so far,
/// so the latest replaces the earlier ones).
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    pub iteration: u32,
    /// `copy`, `worktree` or `in_place`.
    pub isolation: String,
    pub project: String,
    pub work_root: String,
    pub files: Vec<ChangedFile>,
    pub lines_added: u64,
    pub lines_removed: u64,
    /// The unified diff, line by line (it is bounded when recorded, so it is kept whole).
    pub diff: Vec<DiffLine>,
}

impl Changes {
    /// Folds one `FilesChanged` event's fields.
    pub fn new(
        iteration: u32,
        isolation: &str,
        project: &str,
        work_root: &str,
        files: &[FileChange],
        diff: &str,
    ) -> Changes {
        let files: Vec<ChangedFile> = files
            .iter()
            .map(|f| ChangedFile {
                path: lucid_core::event::one_line(&f.path, 300),
                change: f.change,
                lines_added: f.lines_added,
                lines_removed: f.lines_removed,
                binary: f.binary,
            })
            .collect();
        Changes {
            iteration,
            isolation: sanitize(isolation),
            project: lucid_core::event::one_line(project, 300),
            work_root: lucid_core::event::one_line(work_root, 300),
            lines_added: files.iter().map(|f| u64::from(f.lines_added)).sum(),
            lines_removed: files.iter().map(|f| u64::from(f.lines_removed)).sum(),
            files,
            diff: classify(diff),
        }
    }

    /// Rows of the diff overlay: one per file, a blank row, then the diff.
    pub fn rows(&self) -> usize {
        self.files.len() + 1 + self.diff.len()
    }

    /// The agents changed the project itself, so there is nothing to apply.
    pub fn in_place(&self) -> bool {
        self.isolation == "in_place"
    }
}

/// Splits a unified diff into sanitized lines and says what each is. A `---`/`+++` line
/// is a file header only between a `diff` line and the first hunk, so a removed line that
/// itself starts with `--` stays a removed line.
fn classify(diff: &str) -> Vec<DiffLine> {
    let mut out = Vec::new();
    let mut in_header = false;
    for raw in sanitize(diff).lines() {
        let text = raw.replace('\t', "    ");
        let kind = if text.starts_with("diff ") {
            in_header = true;
            DiffLineKind::File
        } else if text.starts_with("@@") {
            in_header = false;
            DiffLineKind::Hunk
        } else if in_header
            && (text.starts_with("--- ")
                || text.starts_with("+++ ")
                || text.starts_with("Binary files "))
        {
            DiffLineKind::File
        } else if in_header {
            DiffLineKind::Note
        } else if text.starts_with('+') {
            DiffLineKind::Added
        } else if text.starts_with('-') {
            DiffLineKind::Removed
        } else if text.starts_with(' ') || text.is_empty() {
            DiffLineKind::Context
        } else {
            DiffLineKind::Note
        };
        out.push(DiffLine { kind, text });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_classified_and_headers_only_count_before_a_hunk() {
        let diff = "diff --lucid a/x b/x\n--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n keep\n--- gone\n+new\n\\ No newline at end of file\ndiff --lucid a/y b/y\nBinary files a/y and b/y differ\n";
        let kinds: Vec<DiffLineKind> = classify(diff).iter().map(|l| l.kind).collect();
        use DiffLineKind::*;
        assert_eq!(
            kinds,
            [File, File, File, Hunk, Context, Removed, Added, Note, File, File]
        );
    }

    #[test]
    fn control_sequences_and_tabs_are_gone() {
        let lines = classify("@@ -1 +1 @@\n+\u{1b}]0;pwned\u{7}a\tb\u{1b}[31mred\r\n");
        assert_eq!(lines[1].text, "+a    bred");
        assert_eq!(lines[1].kind, DiffLineKind::Added);
    }
}

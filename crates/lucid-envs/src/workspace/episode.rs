//! One attempt at a workspace task: what the tools have done (files read and which lines,
//! searches, files written, refusals) and the result facts that amounts to.
//!
//! Each attempt writes into its own output folder, `attempt-N` under the configured
//! output folder, which starts empty. This module owns the fact vocabulary; the tools
//! that change the state live in `tools`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};

use super::text::citations;
use super::tools;
use lucid_core::event::Facts;
use lucid_core::tool::Tool;
use lucid_core::world::paths::FileEntry;
use lucid_core::world::Episode;

/// Every fact an episode reports, in a stable order.
pub(super) const FACT_NAMES: [&str; 13] = [
    "files_total",
    "files_read",
    "files_opened",
    "files_unread",
    "searches",
    "reviews_written",
    "findings",
    "bad_citations",
    "tool_errors",
    "escapes_refused",
    "files",
    "read",
    "written",
];

/// What the tools have done so far in this attempt.
#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct EpisodeState {
    /// Line ranges shown by `read_file`, per file (1-based, inclusive).
    pub ranges: BTreeMap<String, Vec<(usize, usize)>>,
    pub searches: u32,
    /// Files written, by path relative to the attempt's output folder, with their text.
    pub written: BTreeMap<String, String>,
    pub tool_errors: u32,
    pub escapes_refused: u32,
}

/// Where an attempt works.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    /// The canonical root.
    pub root: PathBuf,
    /// The configured output folder (absolute; may not exist yet).
    pub output: PathBuf,
    /// This attempt's folder under `output`, e.g. `…/attempt-2`.
    pub attempt_dir: PathBuf,
    /// The attempt folder as the tools name it, relative to the session's folder when
    /// possible (for messages; never an absolute path, which would differ per machine).
    pub attempt_label: String,
}

/// Shared handle on one attempt, cloned into each tool.
#[derive(Clone)]
pub(super) struct Shared {
    pub layout: Arc<Layout>,
    /// The text files of the root when the attempt started.
    pub files: Arc<Vec<FileEntry>>,
    /// Set when the attempt's output folder could not be prepared.
    pub setup_error: Option<String>,
    state: Arc<Mutex<EpisodeState>>,
}

impl Shared {
    pub(super) fn new(
        layout: Arc<Layout>,
        files: Arc<Vec<FileEntry>>,
        setup_error: Option<String>,
    ) -> Self {
        Shared {
            layout,
            files,
            setup_error,
            state: Arc::new(Mutex::new(EpisodeState::default())),
        }
    }

    /// The state, even if a tool panicked while holding the lock (the state is plain
    /// data and stays consistent between statements).
    pub(super) fn state(&self) -> MutexGuard<'_, EpisodeState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn facts(&self) -> Facts {
        let state = self.state();
        let lines: BTreeMap<&str, usize> = self
            .files
            .iter()
            .filter(|f| !f.binary)
            .map(|f| (f.path.as_str(), f.lines))
            .collect();
        let fully_read: BTreeSet<&str> = lines
            .iter()
            .filter(|(path, total)| {
                state
                    .ranges
                    .get(**path)
                    .is_some_and(|ranges| covers(ranges, **total))
            })
            .map(|(path, _)| *path)
            .collect();
        let opened = state
            .ranges
            .keys()
            .filter(|p| lines.contains_key(p.as_str()))
            .count();
        let mut findings = 0;
        let mut bad = 0;
        for text in state.written.values() {
            for line in text.lines() {
                let cited = citations(line);
                let valid = cited
                    .iter()
                    .filter(|c| lines.get(c.path.as_str()).is_some_and(|n| c.line <= *n))
                    .count();
                bad += cited.len() - valid;
                if valid > 0 {
                    findings += 1;
                }
            }
        }
        let mut facts = Facts::new();
        let mut put = |name: &str, value: Value| {
            facts.insert(name.to_string(), value);
        };
        put("files_total", json!(lines.len()));
        put("files_read", json!(fully_read.len()));
        put("files_opened", json!(opened));
        put("files_unread", json!(lines.len() - fully_read.len()));
        put("searches", json!(state.searches));
        put("reviews_written", json!(state.written.len()));
        put("findings", json!(findings));
        put("bad_citations", json!(bad));
        put("tool_errors", json!(state.tool_errors));
        put("escapes_refused", json!(state.escapes_refused));
        put("files", json!(lines));
        put("read", json!(fully_read));
        put("written", json!(state.written.keys().collect::<Vec<_>>()));
        facts
    }
}

/// Whether the ranges cover every line from 1 to `total`.
fn covers(ranges: &[(usize, usize)], total: usize) -> bool {
    let mut sorted = ranges.to_vec();
    sorted.sort_unstable();
    let mut next = 1;
    for (start, end) in sorted {
        if start > next {
            return false;
        }
        next = next.max(end + 1);
    }
    next > total
}

/// An attempt, as the revise loop sees it.
pub(super) struct WorkspaceEpisode {
    shared: Shared,
}

impl WorkspaceEpisode {
    pub(super) fn new(shared: Shared) -> Self {
        WorkspaceEpisode { shared }
    }
}

impl Episode for WorkspaceEpisode {
    fn tools(&self) -> Vec<Arc<dyn Tool>> {
        tools::all(&self.shared)
    }

    fn facts(&self) -> Facts {
        self.shared.facts()
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn ranges_cover_a_file_only_without_gaps() {
        assert!(covers(&[(1, 10)], 10));
        assert!(covers(&[(5, 10), (1, 5)], 10));
        assert!(!covers(&[(1, 4), (6, 10)], 10));
        assert!(!covers(&[(1, 9)], 10));
        assert!(covers(&[], 0), "an empty file is read by opening it");
    }
}

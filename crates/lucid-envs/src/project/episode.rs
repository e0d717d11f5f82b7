//! One attempt at a project task: what its commands did, and the facts and change set the
//! working folder amounts to when the attempt ends.
//!
//! Attempts of one session share the working folder (a revision continues from the
//! files as the last attempt left them); each has its own counts of commands and
//! refusals. This module owns the project's fact vocabulary.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use serde_json::{json, Value};

use super::changes::{compare, ChangeSet};
use super::workdir::WorkDir;
use lucid_core::event::{one_line, Facts};
use lucid_core::sandbox::CommandOutput;
use lucid_core::tool::Tool;
use lucid_core::world::folder::WorkFolder;
use lucid_core::world::{Episode, WorkChanges};

/// Every fact a project episode reports.
pub const FACT_NAMES: [&str; 7] = [
    "files_changed",
    "lines_added",
    "lines_removed",
    "shell_commands",
    "shell_failures",
    "tool_errors",
    "commands_run",
];

/// Commands listed in the `commands_run` fact at most (the latest are kept).
const MAX_LISTED_COMMANDS: usize = 30;

/// What an attempt's tools did.
#[derive(Debug, Default)]
struct Counts {
    shell_commands: u32,
    shell_failures: u32,
    tool_errors: u32,
    /// `command → status` lines, latest last.
    commands: Vec<String>,
    /// The change set computed when the facts were read.
    changes: Option<ChangeSet>,
}

/// What every tool of an attempt shares.
pub(super) struct ProjectShared {
    pub work: Arc<WorkDir>,
    pub folder: Arc<WorkFolder>,
    pub exclude: Arc<Vec<String>>,
    counts: Mutex<Counts>,
}

impl ProjectShared {
    fn counts(&self) -> MutexGuard<'_, Counts> {
        // Each update is one field; a poisoned lock still holds whole counts.
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn count_tool_error(&self) {
        self.counts().tool_errors += 1;
    }

    pub(super) fn record_command(&self, command: &str, output: &CommandOutput) {
        let mut counts = self.counts();
        counts.shell_commands += 1;
        if !output.success() {
            counts.shell_failures += 1;
        }
        counts.commands.push(format!(
            "{} → {}",
            one_line(command, 120),
            output.status_line()
        ));
        let excess = counts.commands.len().saturating_sub(MAX_LISTED_COMMANDS);
        counts.commands.drain(..excess);
    }
}

/// One attempt.
pub(super) struct ProjectEpisode {
    shared: Arc<ProjectShared>,
}

impl ProjectEpisode {
    pub(super) fn new(
        work: Arc<WorkDir>,
        folder: Arc<WorkFolder>,
        exclude: Arc<Vec<String>>,
    ) -> Self {
        ProjectEpisode {
            shared: Arc::new(ProjectShared {
                work,
                folder,
                exclude,
                counts: Mutex::new(Counts::default()),
            }),
        }
    }

    /// What the working folder changed against the project as the session found it.
    /// Callers treat a comparison that fails as no changes (facts) or none to show.
    fn change_set(&self) -> std::io::Result<ChangeSet> {
        let work = &self.shared.work;
        compare(&work.base, &work.root, &self.shared.exclude)
    }
}

impl Episode for ProjectEpisode {
    fn tools(&self) -> Vec<Arc<dyn Tool>> {
        super::tools::all(&self.shared)
    }

    fn facts(&self) -> Facts {
        let changes = self.change_set().unwrap_or_default();
        let (added, removed) = changes.files.iter().fold((0u64, 0u64), |(a, r), f| {
            (a + u64::from(f.lines_added), r + u64::from(f.lines_removed))
        });
        let mut counts = self.shared.counts();
        let facts: [(&str, Value); 7] = [
            ("files_changed", json!(changes.files.len())),
            ("lines_added", json!(added)),
            ("lines_removed", json!(removed)),
            ("shell_commands", json!(counts.shell_commands)),
            ("shell_failures", json!(counts.shell_failures)),
            ("tool_errors", json!(counts.tool_errors)),
            ("commands_run", json!(counts.commands)),
        ];
        counts.changes = Some(changes);
        facts.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    fn changes(&self) -> Option<WorkChanges> {
        let cached = self.shared.counts().changes.clone();
        let set = match cached {
            Some(set) => set,
            None => self.change_set().ok()?,
        };
        let work = &self.shared.work;
        Some(WorkChanges {
            isolation: work.isolation.as_str(),
            project: work.project.clone(),
            work_root: work.root.clone(),
            set,
        })
    }
}

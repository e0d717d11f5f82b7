//! The Memory view's model: the memory records on show (plain data, filled by the
//! runtime from whatever store backs them), filters, search, the detail pane (body,
//! rules, provenance, history, versions with a diff), the question before a reject or
//! retire, and the editor ([`super::memory_editor`]), and the reducer for its keys.
//!
//! The records are the TUI's own copy ([`MemoryItem`]), so this view is testable without
//! a store; the runtime converts from the memory module's records and carries out the
//! [`MemoryCommand`]s (approve or approve again, reject, retire, save an edit as a new
//! version, export, dream).

use crossterm::event::{KeyCode, KeyEvent};

use super::app::Command;
use super::keymap::KeyAction;
use super::memory_editor::{EditOutcome, Editor};
use lucid_core::event::SessionId;

pub use lucid_core::memory::{DiffLine, Edit, MemoryStatus};

/// The statuses the status filter cycles through.
pub const STATUSES: [MemoryStatus; 4] = [
    MemoryStatus::Proposed,
    MemoryStatus::Approved,
    MemoryStatus::Rejected,
    MemoryStatus::Retired,
];

/// A session a memory cites as evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Citation {
    pub session: SessionId,
    pub note: String,
}

/// One version of a memory's text.
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryVersion {
    pub version: u32,
    pub body: String,
}

/// One version in a memory's history: who wrote it, when, and what it did.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryLine {
    pub version: u32,
    pub at_ms: u64,
    pub by: String,
    /// What happened, e.g. `approved`, `edited; it was approved, so it is proposed again…`.
    pub summary: String,
    /// The version took an approval back (an edit nobody approved with it).
    pub needs_review: bool,
}

/// A playbook or note as the Memory view shows it (text already sanitized).
#[derive(Debug, Clone, PartialEq)]
pub struct MemoryItem {
    /// The full id (what commands send).
    pub id: String,
    /// The short id (what a person reads and types).
    pub short_id: String,
    pub title: String,
    /// `playbook` or `note`.
    pub kind: String,
    /// The team (or `global`) the memory applies to.
    pub scope: String,
    pub status: MemoryStatus,
    pub version: u32,
    pub body: String,
    /// One JSON rule per line.
    pub rules: Vec<String>,
    pub provenance: Vec<Citation>,
    /// Every version, oldest first, the current one last.
    pub versions: Vec<MemoryVersion>,
    /// Who wrote the current version.
    pub author: String,
    /// Who did what when, one line per version, oldest first.
    pub history: Vec<HistoryLine>,
}

impl MemoryItem {
    /// Whether its latest version took an approval back (it waits for approval again).
    pub fn needs_review(&self) -> bool {
        self.history.last().is_some_and(|h| h.needs_review)
    }
}

/// What the Memory view asks the runtime to do.
#[derive(Debug, Clone, PartialEq)]
pub enum MemoryCommand {
    Load,
    /// Approve a proposal, or a rejected or retired memory again.
    Approve(String),
    Reject(String),
    Retire(String),
    /// Save an edit (title, body, rules; approved with it or not) as a new version.
    SaveEdit {
        id: String,
        edit: Edit,
    },
    Export(String),
    /// Dream over the team's new sessions (the team on show, else the latest session's).
    DreamNow {
        team: String,
    },
}

/// What the runtime tells the Memory view.
#[derive(Debug, Clone, PartialEq)]
pub enum MemoryUpdate {
    /// The records, or why they could not be read (or that memory is unavailable).
    Loaded(Result<Vec<MemoryItem>, String>),
    /// A command finished; the message goes to the footer.
    Done(String),
    Failed(String),
}

/// Which pane of the Memory view has the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MemoryPane {
    #[default]
    List,
    Detail,
}

/// A review that waits for a yes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Reject,
    Retire,
}

/// The question asked before a reject or retire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirm {
    pub verdict: Verdict,
    pub id: String,
    pub title: String,
}

/// The Memory view's state.
#[derive(Default)]
pub struct MemoryState {
    pub items: Vec<MemoryItem>,
    pub loaded: bool,
    pub error: Option<String>,
    pub selected: usize,
    pub pane: MemoryPane,
    pub status_filter: Option<MemoryStatus>,
    pub scope_filter: Option<String>,
    pub kind_filter: Option<String>,
    pub search: String,
    /// Typing into the search box.
    pub searching: bool,
    /// The detail pane shows versions and the diff instead of the body.
    pub show_versions: bool,
    /// The citation under the cursor in the detail pane.
    pub citation: usize,
    pub editor: Option<Editor>,
    /// Asking before a reject or retire; the next key answers.
    pub confirm: Option<Confirm>,
}

fn cycle<T: Clone + PartialEq>(current: &Option<T>, options: &[T]) -> Option<T> {
    match current {
        None => options.first().cloned(),
        Some(value) => {
            let at = options.iter().position(|o| o == value);
            at.and_then(|i| options.get(i + 1).cloned())
        }
    }
}

impl MemoryState {
    /// The records that pass the filters and the search, in list order.
    pub fn visible(&self) -> Vec<&MemoryItem> {
        let needle = self.search.to_lowercase();
        self.items
            .iter()
            .filter(|m| self.status_filter.is_none_or(|s| m.status == s))
            .filter(|m| self.scope_filter.as_ref().is_none_or(|s| &m.scope == s))
            .filter(|m| self.kind_filter.as_ref().is_none_or(|k| &m.kind == k))
            .filter(|m| {
                needle.is_empty()
                    || m.title.to_lowercase().contains(&needle)
                    || m.body.to_lowercase().contains(&needle)
                    || m.id.to_lowercase().contains(&needle)
                    || m.short_id.contains(&needle)
            })
            .collect()
    }

    pub fn current(&self) -> Option<&MemoryItem> {
        self.visible().get(self.selected).copied()
    }

    /// Takes in what the runtime reports.
    pub fn apply(&mut self, update: MemoryUpdate, notice: &mut Option<String>) -> Vec<Command> {
        match update {
            MemoryUpdate::Loaded(Ok(items)) => {
                let keep = self.current().map(|m| m.id.clone());
                self.items = items;
                self.loaded = true;
                self.error = None;
                if let Some(id) = keep {
                    if let Some(i) = self.visible().iter().position(|m| m.id == id) {
                        self.selected = i;
                    }
                }
                self.clamp();
                Vec::new()
            }
            MemoryUpdate::Loaded(Err(message)) => {
                self.loaded = true;
                self.error = Some(message);
                Vec::new()
            }
            MemoryUpdate::Done(message) => {
                *notice = Some(message);
                vec![Command::Memory(MemoryCommand::Load)]
            }
            MemoryUpdate::Failed(message) => {
                *notice = Some(message);
                Vec::new()
            }
        }
    }

    fn clamp(&mut self) {
        let n = self.visible().len();
        self.selected = self.selected.min(n.saturating_sub(1));
        let cites = self.current().map_or(0, |m| m.provenance.len());
        self.citation = self.citation.min(cites.saturating_sub(1));
    }

    /// Whether the view takes raw keys (not the keymap's): the editor, the search box
    /// or a question is open.
    pub fn takes_raw_keys(&self) -> bool {
        self.editor.is_some() || self.searching || self.confirm.is_some()
    }

    /// Handles a key. The question, the editor and the search box take raw keys first.
    pub fn on_key(
        &mut self,
        action: Option<KeyAction>,
        key: &KeyEvent,
        notice: &mut Option<String>,
    ) -> Vec<Command> {
        if let Some(confirm) = self.confirm.take() {
            if matches!(key.code, KeyCode::Char('y' | 'Y')) {
                let command = match confirm.verdict {
                    Verdict::Reject => MemoryCommand::Reject(confirm.id),
                    Verdict::Retire => MemoryCommand::Retire(confirm.id),
                };
                return vec![Command::Memory(command)];
            }
            *notice = Some(format!(
                "kept “{}”: nothing {}",
                confirm.title,
                match confirm.verdict {
                    Verdict::Reject => "rejected",
                    Verdict::Retire => "retired",
                }
            ));
            return Vec::new();
        }
        if let Some(editor) = &mut self.editor {
            // What the footer said about the last key is stale once another arrives.
            *notice = None;
            return editor.on_key(key, notice).map_or_else(Vec::new, |outcome| {
                self.editor = None;
                match outcome {
                    EditOutcome::Save { id, edit } => {
                        vec![Command::Memory(MemoryCommand::SaveEdit { id, edit })]
                    }
                    EditOutcome::Drop => Vec::new(),
                }
            });
        }
        if self.searching {
            match key.code {
                KeyCode::Enter | KeyCode::Esc => self.searching = false,
                KeyCode::Backspace => {
                    self.search.pop();
                }
                KeyCode::Char(c) => self.search.push(c),
                _ => {}
            }
            if key.code == KeyCode::Esc {
                self.search.clear();
            }
            self.selected = 0;
            self.clamp();
            return Vec::new();
        }
        let Some(action) = action else {
            return Vec::new();
        };
        let current = self.current().cloned();
        match action {
            KeyAction::Down | KeyAction::Up => {
                let down = action == KeyAction::Down;
                match self.pane {
                    MemoryPane::List => {
                        self.selected = if down {
                            self.selected + 1
                        } else {
                            self.selected.saturating_sub(1)
                        };
                        self.citation = 0;
                    }
                    MemoryPane::Detail => {
                        self.citation = if down {
                            self.citation + 1
                        } else {
                            self.citation.saturating_sub(1)
                        };
                    }
                }
                self.clamp();
            }
            KeyAction::Top => self.selected = 0,
            KeyAction::Bottom => {
                self.selected = self.visible().len().saturating_sub(1);
            }
            KeyAction::FocusNext | KeyAction::FocusPrev => {
                self.pane = match self.pane {
                    MemoryPane::List => MemoryPane::Detail,
                    MemoryPane::Detail => MemoryPane::List,
                };
            }
            KeyAction::Search => {
                self.searching = true;
            }
            KeyAction::FilterStatus => {
                self.status_filter = cycle(&self.status_filter, &STATUSES);
                self.selected = 0;
            }
            KeyAction::FilterScope => {
                let scopes = self.distinct(|m| m.scope.clone());
                self.scope_filter = cycle(&self.scope_filter, &scopes);
                self.selected = 0;
            }
            KeyAction::FilterKind => {
                let kinds = self.distinct(|m| m.kind.clone());
                self.kind_filter = cycle(&self.kind_filter, &kinds);
                self.selected = 0;
            }
            KeyAction::Versions => self.show_versions = !self.show_versions,
            KeyAction::Open => {
                if self.pane == MemoryPane::Detail {
                    if let Some(cite) = current
                        .as_ref()
                        .and_then(|m| m.provenance.get(self.citation))
                    {
                        return vec![Command::LoadReplay(cite.session)];
                    }
                } else {
                    self.pane = MemoryPane::Detail;
                }
            }
            KeyAction::Approve
            | KeyAction::Reject
            | KeyAction::Retire
            | KeyAction::Export
            | KeyAction::Edit => {
                let Some(item) = current else {
                    *notice = Some("nothing selected".into());
                    return Vec::new();
                };
                return self.act_on(action, item, notice);
            }
            _ => {}
        }
        self.clamp();
        Vec::new()
    }

    /// A review, export or edit of the selected memory: the command, a question first
    /// (reject, retire), or a notice saying why it does not apply.
    fn act_on(
        &mut self,
        action: KeyAction,
        item: MemoryItem,
        notice: &mut Option<String>,
    ) -> Vec<Command> {
        let status = item.status;
        let refused = match action {
            KeyAction::Approve if status == MemoryStatus::Approved => Some("is approved already"),
            KeyAction::Reject => match status {
                MemoryStatus::Proposed => None,
                MemoryStatus::Approved => Some("is approved: R retires it"),
                MemoryStatus::Rejected => Some("is rejected already"),
                MemoryStatus::Retired => Some("is retired: it has no effect already"),
            },
            KeyAction::Retire => match status {
                MemoryStatus::Approved => None,
                MemoryStatus::Proposed => {
                    Some("is a proposal: only approved memories retire (r rejects it)")
                }
                MemoryStatus::Rejected => Some("is rejected: it has no effect already"),
                MemoryStatus::Retired => Some("is retired already"),
            },
            _ => None,
        };
        if let Some(why) = refused {
            *notice = Some(format!("“{}” {why}", item.title));
            return Vec::new();
        }
        let command = match action {
            KeyAction::Approve => MemoryCommand::Approve(item.id),
            KeyAction::Export => MemoryCommand::Export(item.id),
            KeyAction::Reject | KeyAction::Retire => {
                self.confirm = Some(Confirm {
                    verdict: if action == KeyAction::Reject {
                        Verdict::Reject
                    } else {
                        Verdict::Retire
                    },
                    id: item.id,
                    title: item.title,
                });
                return Vec::new();
            }
            _ => {
                self.editor = Some(Editor::open(&item));
                return Vec::new();
            }
        };
        vec![Command::Memory(command)]
    }

    fn distinct(&self, key: impl Fn(&MemoryItem) -> String) -> Vec<String> {
        let mut values: Vec<String> = self.items.iter().map(key).collect();
        values.sort();
        values.dedup();
        values
    }
}

/// A line diff of `old` → `new`.
pub fn diff(old: &str, new: &str) -> Vec<DiffLine> {
    lucid_core::memory::diff::diff_lines(old, new)
}

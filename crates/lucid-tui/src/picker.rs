//! The new-run picker `n` opens: the recent runs (from the recorded history, newest
//! first, each with its seed and world) and the session files of `sessions/`, above three
//! fields: the session file's path, and an optional seed and world that override the
//! file's. Picking a row fills the fields; Tab moves between the list and the fields;
//! Enter starts the run. Its state and keys live here (the reducer hands it every key
//! while it is open); `views::picker` draws it.

use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use lucid_core::store::SessionSummary;

/// The most recent runs offered.
const MAX_RECENT: usize = 8;
/// The longest path or number typed.
const MAX_FIELD: usize = 1024;

/// A run to start: a session file, and the seed and world that override the file's
/// (a recent run's, or typed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunChoice {
    pub spec: PathBuf,
    pub seed: Option<u64>,
    pub world: Option<u64>,
}

/// Where the picker's keys go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Focus {
    #[default]
    List,
    Path,
    Seed,
    World,
}

impl Focus {
    fn next(self, back: bool) -> Focus {
        const ORDER: [Focus; 4] = [Focus::List, Focus::Path, Focus::Seed, Focus::World];
        let at = ORDER.iter().position(|f| *f == self).unwrap_or(0);
        let step = if back { ORDER.len() - 1 } else { 1 };
        ORDER[(at + step) % ORDER.len()]
    }
}

/// The picker's state.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Picker {
    /// Recent runs, newest first, each file/seed/world once.
    pub recent: Vec<RunChoice>,
    /// The session files of `sessions/`.
    pub files: Vec<PathBuf>,
    /// The row under the cursor: recent runs first, then files.
    pub selected: usize,
    pub focus: Focus,
    pub path: String,
    pub seed: String,
    pub world: String,
    /// Why Enter did not start a run.
    pub error: Option<String>,
}

/// What a key did to the picker.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Stay,
    Close,
    Start(RunChoice),
}

impl Picker {
    /// A picker over `files` and the runs of `history` (newest first), its fields
    /// filled from the first row.
    pub fn new(files: Vec<PathBuf>, history: &[SessionSummary]) -> Picker {
        let mut recent: Vec<RunChoice> = Vec::new();
        for summary in history.iter().filter(|s| !s.is_dream()) {
            if summary.spec_path.is_empty() {
                continue;
            }
            let choice = RunChoice {
                spec: PathBuf::from(&summary.spec_path),
                seed: Some(summary.seed),
                world: Some(summary.world),
            };
            if !recent.contains(&choice) {
                recent.push(choice);
            }
            if recent.len() == MAX_RECENT {
                break;
            }
        }
        let mut picker = Picker {
            recent,
            files,
            ..Picker::default()
        };
        picker.fill();
        picker
    }

    /// Every row: recent runs, then files.
    pub fn rows(&self) -> impl Iterator<Item = RunChoice> + '_ {
        self.recent
            .iter()
            .cloned()
            .chain(self.files.iter().map(|spec| RunChoice {
                spec: spec.clone(),
                seed: None,
                world: None,
            }))
    }

    fn row_count(&self) -> usize {
        self.recent.len() + self.files.len()
    }

    /// Fills the fields from the selected row.
    fn fill(&mut self) {
        let choice = self.rows().nth(self.selected);
        if let Some(choice) = choice {
            self.path = choice.spec.display().to_string();
            self.seed = choice.seed.map(|n| n.to_string()).unwrap_or_default();
            self.world = choice.world.map(|n| n.to_string()).unwrap_or_default();
        }
    }

    fn field(&mut self) -> Option<&mut String> {
        match self.focus {
            Focus::List => None,
            Focus::Path => Some(&mut self.path),
            Focus::Seed => Some(&mut self.seed),
            Focus::World => Some(&mut self.world),
        }
    }

    /// The run the fields describe, or why they describe none.
    pub fn choice(&self) -> Result<RunChoice, String> {
        let path = self.path.trim();
        if path.is_empty() {
            return Err("type a session file's path, or pick one".into());
        }
        let number = |text: &str, what: &str| -> Result<Option<u64>, String> {
            let text = text.trim();
            if text.is_empty() {
                return Ok(None);
            }
            text.parse::<u64>()
                .map(Some)
                .map_err(|_| format!("the {what} must be a whole number ≥ 0, not `{text}`"))
        };
        Ok(RunChoice {
            spec: PathBuf::from(path),
            seed: number(&self.seed, "seed")?,
            world: number(&self.world, "world")?,
        })
    }

    /// Applies a key.
    pub fn on_key(&mut self, key: &KeyEvent) -> Outcome {
        self.error = None;
        match key.code {
            KeyCode::Esc => return Outcome::Close,
            KeyCode::Enter => {
                return match self.choice() {
                    Ok(choice) => Outcome::Start(choice),
                    Err(message) => {
                        self.error = Some(message);
                        Outcome::Stay
                    }
                }
            }
            KeyCode::Tab => self.focus = self.focus.next(false),
            KeyCode::BackTab => self.focus = self.focus.next(true),
            _ if self.focus == Focus::List => match key.code {
                KeyCode::Char('q') => return Outcome::Close,
                KeyCode::Down | KeyCode::Char('j') => {
                    self.selected = (self.selected + 1).min(self.row_count().saturating_sub(1));
                    self.fill();
                }
                KeyCode::Up | KeyCode::Char('k') => {
                    self.selected = self.selected.saturating_sub(1);
                    self.fill();
                }
                _ => {}
            },
            KeyCode::Backspace => {
                if let Some(field) = self.field() {
                    field.pop();
                }
            }
            KeyCode::Char('u') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                if let Some(field) = self.field() {
                    field.clear();
                }
            }
            KeyCode::Char(c)
                if !c.is_control()
                    && !key
                        .modifiers
                        .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT) =>
            {
                if let Some(field) = self.field() {
                    if field.len() < MAX_FIELD {
                        field.push(c);
                    }
                }
            }
            _ => {}
        }
        Outcome::Stay
    }
}

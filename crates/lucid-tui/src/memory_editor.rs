//! The Memory view's editor: a memory's title, body and rules as three fields
//! (tui-textarea), the keys inside it, and the questions it asks — drop unsaved
//! changes? and, for an approved memory, approve the edit too or save it as proposed?
//! Saving yields an [`Edit`] holding only what changed, made from the version on show;
//! rules are one JSON object per line and read strictly, so a garbled rule is reported
//! and nothing is saved. Pure state: the runtime saves the edit.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::style::{Modifier, Style};
use tui_textarea::TextArea;

use super::memory_state::{MemoryItem, MemoryStatus};
use lucid_core::event::sanitize;
use lucid_core::memory::text::parse_rule_lines;
use lucid_core::memory::Edit;

/// The editor's fields, in Tab order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Title,
    Body,
    Rules,
}

impl Field {
    pub const ALL: [Field; 3] = [Field::Title, Field::Body, Field::Rules];

    pub fn label(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Body => "body",
            Field::Rules => "rules (one JSON rule per line)",
        }
    }

    fn next(self, forward: bool) -> Field {
        let at = Field::ALL.iter().position(|f| *f == self).unwrap_or(0);
        let n = Field::ALL.len();
        Field::ALL[if forward {
            (at + 1) % n
        } else {
            (at + n - 1) % n
        }]
    }
}

/// A question the editor is asking; the next key answers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Esc with unsaved changes: drop them?
    DropChanges,
    /// Saving an edit of an approved memory: approve the edit too, or save it proposed?
    ApproveEdit,
}

/// What the editor hands back when it closes.
#[derive(Debug, Clone, PartialEq)]
pub enum EditOutcome {
    Save { id: String, edit: Edit },
    Drop,
}

/// The editor open on one memory.
pub struct Editor {
    pub id: String,
    /// The memory's short id, as the editor's title shows it.
    pub short_id: String,
    /// The version the edit is made from.
    pub base_version: u32,
    /// The memory's status when the editor opened.
    pub status: MemoryStatus,
    pub title: TextArea<'static>,
    pub body: TextArea<'static>,
    pub rules: TextArea<'static>,
    pub field: Field,
    pub prompt: Option<Prompt>,
    /// The fields' text when the editor opened.
    original: [String; 3],
}

fn textarea(text: &str) -> TextArea<'static> {
    let mut area = TextArea::from(text.lines().map(str::to_string));
    area.set_cursor_line_style(Style::new());
    area
}

/// Shows the cursor in the field that has the keys only.
fn show_cursor(area: &mut TextArea<'static>, focused: bool) {
    area.set_cursor_style(if focused {
        Style::new().add_modifier(Modifier::REVERSED)
    } else {
        Style::new()
    });
}

impl Editor {
    pub fn open(item: &MemoryItem) -> Editor {
        let rules = item.rules.join("\n");
        let mut editor = Editor {
            id: item.id.clone(),
            short_id: item.short_id.clone(),
            base_version: item.version,
            status: item.status,
            title: textarea(&item.title),
            body: textarea(&item.body),
            rules: textarea(&rules),
            field: Field::Title,
            prompt: None,
            original: [item.title.clone(), item.body.clone(), rules],
        };
        editor.focus(Field::Title);
        editor
    }

    /// Gives `field` the keys (and the cursor).
    pub fn focus(&mut self, field: Field) {
        self.field = field;
        for f in Field::ALL {
            show_cursor(self.area_mut(f), f == field);
        }
    }

    pub fn area(&self, field: Field) -> &TextArea<'static> {
        match field {
            Field::Title => &self.title,
            Field::Body => &self.body,
            Field::Rules => &self.rules,
        }
    }

    fn area_mut(&mut self, field: Field) -> &mut TextArea<'static> {
        match field {
            Field::Title => &mut self.title,
            Field::Body => &mut self.body,
            Field::Rules => &mut self.rules,
        }
    }

    /// A field's text now.
    pub fn text(&self, field: Field) -> String {
        let lines = self.area(field).lines();
        match field {
            Field::Title => lines.join(" ").trim().to_string(),
            _ => lines.join("\n"),
        }
    }

    fn changed(&self, field: Field) -> bool {
        let at = Field::ALL.iter().position(|f| *f == field).unwrap_or(0);
        let now = self.text(field);
        match field {
            Field::Title => now != self.original[at].trim(),
            _ => now.trim_end() != self.original[at].trim_end(),
        }
    }

    /// Whether any field differs from what the editor opened with.
    pub fn is_changed(&self) -> bool {
        Field::ALL.iter().any(|f| self.changed(*f))
    }

    /// The edit (the changed fields only), or the sentence saying why it cannot be saved
    /// and the field to fix.
    fn edit(&self, approve: bool) -> Result<Edit, (Field, String)> {
        let title = self.changed(Field::Title).then(|| self.text(Field::Title));
        if title.as_deref().is_some_and(str::is_empty) {
            return Err((Field::Title, "the title must not be empty".into()));
        }
        let rules = match self.changed(Field::Rules) {
            true => Some(
                parse_rule_lines(&self.text(Field::Rules), 1)
                    .map_err(|err| (Field::Rules, sanitize(&err.to_string())))?,
            ),
            false => None,
        };
        Ok(Edit {
            base_version: Some(self.base_version),
            title,
            body: self.changed(Field::Body).then(|| self.text(Field::Body)),
            rules,
            approve,
        })
    }

    fn save(&self, approve: bool) -> EditOutcome {
        match self.edit(approve) {
            Ok(edit) => EditOutcome::Save {
                id: self.id.clone(),
                edit,
            },
            // Checked before asking; nothing to save if it fails now.
            Err(_) => EditOutcome::Drop,
        }
    }

    /// Handles a key: ctrl-s saves (asking first for an approved memory), Esc leaves
    /// (asking first if something changed), Tab and shift-Tab move between fields, Enter
    /// in the title moves to the body; anything else edits the field.
    pub fn on_key(&mut self, key: &KeyEvent, notice: &mut Option<String>) -> Option<EditOutcome> {
        match self.prompt.take() {
            Some(Prompt::DropChanges) => {
                if matches!(key.code, KeyCode::Char('y' | 'Y')) {
                    *notice = Some("edit dropped".into());
                    return Some(EditOutcome::Drop);
                }
                return None;
            }
            Some(Prompt::ApproveEdit) => {
                return match key.code {
                    KeyCode::Char('a' | 'A') => Some(self.save(true)),
                    KeyCode::Char('p' | 'P') => Some(self.save(false)),
                    _ => None,
                };
            }
            None => {}
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Char('s') if ctrl => {
                if !self.is_changed() {
                    *notice = Some("no changes to save".into());
                    return Some(EditOutcome::Drop);
                }
                if let Err((field, message)) = self.edit(false) {
                    self.focus(field);
                    *notice = Some(format!("not saved: {message}"));
                    return None;
                }
                if self.status == MemoryStatus::Approved {
                    self.prompt = Some(Prompt::ApproveEdit);
                    return None;
                }
                Some(self.save(false))
            }
            KeyCode::Esc => {
                if self.is_changed() {
                    self.prompt = Some(Prompt::DropChanges);
                    None
                } else {
                    Some(EditOutcome::Drop)
                }
            }
            KeyCode::Tab | KeyCode::BackTab => {
                let forward =
                    key.code == KeyCode::Tab && !key.modifiers.contains(KeyModifiers::SHIFT);
                self.focus(self.field.next(forward));
                None
            }
            KeyCode::Enter if self.field == Field::Title => {
                self.focus(Field::Body);
                None
            }
            _ => {
                let field = self.field;
                self.area_mut(field).input(*key);
                None
            }
        }
    }
}

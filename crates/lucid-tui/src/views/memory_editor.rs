//! The Memory view's editor, drawn over the detail pane: the title, body and rules
//! fields (the one with the keys has the cursor and a highlighted border), and the
//! editor's questions (drop changes? approve the edit too?) over it.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::{bordered, centered};
use crate::app::AppState;
use crate::memory_editor::{Editor, Field, Prompt};
use crate::memory_state::MemoryStatus;

pub fn draw(frame: &mut Frame, area: Rect, app: &AppState, editor: &Editor) {
    let title = if editor.status == MemoryStatus::Approved {
        format!(
            "Editing {} v{} · approved: saving asks whether to approve the edit",
            editor.short_id, editor.base_version
        )
    } else {
        format!("Editing {} v{}", editor.short_id, editor.base_version)
    };
    let block = bordered(&title, true, app);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let rules_rows = u16::try_from(editor.rules.lines().len())
        .unwrap_or(u16::MAX)
        .saturating_add(2)
        .clamp(3, 8);
    let [title_area, body_area, rules_area] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Min(3),
        Constraint::Length(rules_rows),
    ])
    .areas(inner);
    for (field, area) in [
        (Field::Title, title_area),
        (Field::Body, body_area),
        (Field::Rules, rules_area),
    ] {
        let block = bordered(field.label(), editor.field == field, app);
        let inside = block.inner(area);
        frame.render_widget(block, area);
        frame.render_widget(editor.area(field), inside);
    }
    if let Some(prompt) = editor.prompt {
        draw_prompt(frame, area, app, prompt);
    }
}

fn draw_prompt(frame: &mut Frame, area: Rect, app: &AppState, prompt: Prompt) {
    let key = |k: &'static str| Span::styled(k, app.theme.key);
    let (title, lines) = match prompt {
        Prompt::DropChanges => (
            "Drop changes?",
            vec![
                Line::from("Your changes are not saved."),
                Line::from(vec![
                    key("y"),
                    Span::raw(" drops them   "),
                    key("any other key"),
                    Span::raw(" keeps editing"),
                ]),
            ],
        ),
        Prompt::ApproveEdit => (
            "Approve the edit?",
            vec![
                Line::from("This memory is approved; an edit is reviewed before it steers runs."),
                Line::from(vec![
                    key("a"),
                    Span::raw(" approve the edit too: it keeps steering runs"),
                ]),
                Line::from(vec![
                    key("p"),
                    Span::raw(" save it proposed: it steers no run until approved"),
                ]),
                Line::from(vec![key("any other key"), Span::raw(" keep editing")]),
            ],
        ),
    };
    let height = u16::try_from(lines.len()).unwrap_or(4).saturating_add(2);
    let popup = centered(area, 70, height);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(bordered(title, true, app)),
        popup,
    );
}

//! The new-run picker over the body: recent runs and session files, then the path, seed
//! and world fields, the focused one marked, and why Enter did not start a run.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::{bordered, centered};
use crate::app::AppState;
use crate::picker::{Focus, Picker};
use lucid_core::event::one_line;

/// The widest the popup grows.
const WIDTH: u16 = 76;

pub fn draw(frame: &mut Frame, area: Rect, app: &AppState, picker: &Picker) {
    let theme = &app.theme;
    let width = WIDTH.min(area.width);
    let text_width = usize::from(width.saturating_sub(4));
    // Rows left for the list: the popup less its border, two section titles, a blank,
    // the three fields, the hint and the error.
    let list_rows = usize::from(area.height.saturating_sub(2 + 2 + 1 + 3 + 2)).max(1);
    let first = picker.selected.saturating_sub(list_rows.saturating_sub(1));
    let list_style = |i: usize| {
        if i == picker.selected {
            if picker.focus == Focus::List {
                theme.selected
            } else {
                theme.title
            }
        } else {
            theme.text
        }
    };
    let mut lines: Vec<Line> = Vec::new();
    for (i, choice) in picker.rows().enumerate().skip(first).take(list_rows) {
        if i == 0 && !picker.recent.is_empty() {
            lines.push(Line::styled("recent runs", theme.dim));
        }
        if i == picker.recent.len() {
            lines.push(Line::styled("session files in sessions/", theme.dim));
        }
        let mut label = format!(" {}", choice.spec.display());
        if let (Some(seed), Some(world)) = (choice.seed, choice.world) {
            label.push_str(&format!("  seed {seed} · world {world}"));
        }
        lines.push(Line::styled(one_line(&label, text_width), list_style(i)));
    }
    if picker.recent.is_empty() && picker.files.is_empty() {
        lines.push(Line::styled(
            "no recent runs and no session files in sessions/",
            theme.dim,
        ));
    }
    lines.push(Line::raw(""));
    let field = |label: &str, value: &str, focus: Focus, hint: &str| {
        let focused = picker.focus == focus;
        let shown = if value.is_empty() && !focused {
            Span::styled(hint.to_string(), theme.dim)
        } else {
            Span::styled(
                format!(
                    "{}{}",
                    one_line(value, text_width.saturating_sub(8)),
                    if focused { "▍" } else { "" }
                ),
                theme.text,
            )
        };
        let marker = if focused { theme.selected } else { theme.dim };
        Line::from(vec![
            Span::styled(format!("{label:<6}"), marker),
            Span::raw(" "),
            shown,
        ])
    };
    lines.push(field(
        "file",
        &picker.path,
        Focus::Path,
        "(pick one above, or tab and type)",
    ));
    lines.push(field("seed", &picker.seed, Focus::Seed, "(the file's)"));
    lines.push(field("world", &picker.world, Focus::World, "(the file's)"));
    lines.push(Line::styled(
        "↑↓ pick · tab: file/seed/world · enter runs · esc closes",
        theme.dim,
    ));
    if let Some(error) = &picker.error {
        lines.push(Line::styled(one_line(error, text_width), theme.failed));
    }
    let height = (lines.len() as u16 + 2).min(area.height);
    let popup = centered(area, width, height);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(bordered("New run", true, app)),
        popup,
    );
}

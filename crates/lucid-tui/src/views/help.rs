//! The help overlay: every key of the current view (global keys first), as bound now,
//! so a keymap file's overrides show here too.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::{bordered, centered};
use crate::app::{AppState, View};
use lucid_core::event::ThreadPhase;

/// What the thread tree's status glyphs mean, each in its own colour (two lines, so
/// they fit the overlay).
fn glyph_legend(app: &AppState) -> Vec<Line<'static>> {
    let rows = [
        [
            ThreadPhase::Pending,
            ThreadPhase::Thinking,
            ThreadPhase::Streaming,
            ThreadPhase::CallingTool,
        ],
        [
            ThreadPhase::Waiting,
            ThreadPhase::Done,
            ThreadPhase::Failed,
            ThreadPhase::Cancelled,
        ],
    ];
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let lead = if i == 0 { "  threads: " } else { "           " };
            let mut spans = vec![Span::styled(lead, app.theme.dim)];
            for &phase in row {
                let (mark, style) = super::tree::glyph(phase, &app.theme);
                spans.push(Span::styled(mark, style));
                spans.push(Span::styled(
                    format!(" {:<14}", phase.label()),
                    app.theme.dim,
                ));
            }
            Line::from(spans)
        })
        .collect()
}

pub fn draw(frame: &mut Frame, area: Rect, app: &AppState) {
    let theme = &app.theme;
    let keys = app.keymap.help(app.view.context());
    let width = keys
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(4)
        + 2;
    let mut lines: Vec<Line> = keys
        .into_iter()
        .map(|(key, help)| {
            Line::from(vec![
                Span::styled(format!("{key:>width$}  "), theme.key),
                Span::styled(help, theme.text),
            ])
        })
        .collect();
    if app.view == View::Run {
        lines.push(Line::styled(
            "  in the diff: the movement keys scroll, esc or q closes",
            theme.dim,
        ));
        lines.push(Line::styled(
            "  in the pager: / searches, n/N next/previous match, esc or q closes",
            theme.dim,
        ));
        lines.extend(glyph_legend(app));
    }
    if app.view == View::Memory {
        lines.push(Line::styled(
            "  in the editor: ctrl-s saves a new version, esc leaves (asks first)",
            theme.dim,
        ));
    }
    lines.push(Line::styled("  any key closes this help", theme.dim));
    let name = match app.view {
        View::Run => "Keys: Run",
        View::Sessions => "Keys: Sessions",
        View::Memory => "Keys: Memory",
    };
    let height = lines.len() as u16 + 2;
    let popup = centered(area, 84, height);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(bordered(name, true, app)),
        popup,
    );
}

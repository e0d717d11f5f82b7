//! The Sessions view: the recorded history, newest first (team, outcome, iterations,
//! start date, duration, model tokens in and out, cost), runs and dreams listed apart
//! (`f`).

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table};
use ratatui::Frame;

use super::{bordered, dollars, duration, scroll_to, tokens};
use crate::app::AppState;
use lucid_core::event::{format_time, one_line};
use lucid_core::store::SessionStatus;

pub fn draw(frame: &mut Frame, area: Rect, app: &AppState) {
    let theme = &app.theme;
    let ui = &app.sessions;
    let title = format!(
        "Sessions: {} ({} of {}) · f: runs/dreams/all",
        ui.filter.label(),
        ui.list.len(),
        ui.all.len()
    );
    let block = bordered(&title, true, app);
    if let Some(error) = &ui.error {
        frame.render_widget(
            Paragraph::new(Line::styled(error.clone(), theme.failed)).block(block),
            area,
        );
        return;
    }
    if ui.list.is_empty() {
        let text = match (ui.loaded, ui.all.is_empty()) {
            (false, _) => "Loading…",
            (true, true) => "No sessions yet. Press n to start one.",
            (true, false) => "None of these yet. Press f to list the others.",
        };
        frame.render_widget(
            Paragraph::new(Line::styled(text, theme.dim)).block(block),
            area,
        );
        return;
    }
    let inner_rows = area.height.saturating_sub(3) as usize;
    app.hits.sessions.set(Rect {
        x: area.x + 1,
        y: area.y + 2,
        width: area.width.saturating_sub(2),
        height: inner_rows as u16,
    });
    let first = scroll_to(ui.scroll.get(), ui.selected, inner_rows);
    ui.scroll.set(first);
    let rows = ui
        .list
        .iter()
        .enumerate()
        .skip(first)
        .take(inner_rows)
        .map(|(i, s)| {
            let style = match s.status {
                SessionStatus::Passed => theme.done,
                SessionStatus::Failed => theme.failed,
                SessionStatus::Error => theme.failed,
                SessionStatus::Cancelled => theme.cancelled,
                SessionStatus::Running => theme.thinking,
                SessionStatus::Interrupted => theme.cancelled,
            };
            let (iterations, kind) = if s.is_dream() {
                ("-".to_string(), "dream".to_string())
            } else {
                (
                    format!("{}/{}", s.iterations, s.max_iterations),
                    format!("{} w{} s{}", one_line(&s.environment, 12), s.world, s.seed),
                )
            };
            let row = Row::new(vec![
                Cell::from(s.id.short_id().to_string()),
                Cell::from(one_line(&s.team, 24)),
                Cell::from(Span::styled(s.status.as_str(), style)),
                Cell::from(iterations),
                Cell::from(format_time(s.started_at_ms)),
                Cell::from(s.duration_ms.map(duration).unwrap_or_else(|| "-".into())),
                Cell::from(format!("{}/{}", tokens(s.tokens_in), tokens(s.tokens_out))),
                Cell::from(s.cost_usd.map(dollars).unwrap_or_else(|| "-".into())),
                Cell::from(kind),
            ]);
            if i == ui.selected {
                row.style(theme.selected)
            } else {
                row
            }
        });
    let header = Row::new([
        "id",
        "team",
        "outcome",
        "iters",
        "started (UTC)",
        "duration",
        "tok in/out",
        "cost",
        "kind",
    ])
    .style(theme.title);
    let table = Table::new(
        rows,
        [
            Constraint::Length(9),
            Constraint::Min(14),
            Constraint::Length(11),
            Constraint::Length(6),
            Constraint::Length(17),
            Constraint::Length(9),
            Constraint::Length(13),
            Constraint::Length(8),
            Constraint::Length(18),
        ],
    )
    .header(header)
    .block(block);
    frame.render_widget(table, area);
}

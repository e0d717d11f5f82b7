//! The Sessions view: the recorded history, newest first (team, outcome, iterations,
//! start date, duration, model tokens in and out), and the picker over `sessions/*.toml` that `n` opens.

use ratatui::layout::{Constraint, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Clear, Paragraph, Row, Table};
use ratatui::Frame;

use super::{bordered, centered, duration, scroll_to, tokens};
use crate::app::{AppState, Picker};
use lucid_core::event::{format_time, one_line};
use lucid_core::store::SessionStatus;

pub fn draw(frame: &mut Frame, area: Rect, app: &AppState) {
    let theme = &app.theme;
    let ui = &app.sessions;
    let title = format!("Sessions ({})", ui.list.len());
    let block = bordered(&title, true, app);
    if let Some(error) = &ui.error {
        frame.render_widget(
            Paragraph::new(Line::styled(error.clone(), theme.failed)).block(block),
            area,
        );
        return;
    }
    if ui.list.is_empty() {
        let text = if ui.loaded {
            "No sessions yet. Press n to start one."
        } else {
            "Loading…"
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
            let row = Row::new(vec![
                Cell::from(s.id.short_id().to_string()),
                Cell::from(one_line(&s.team, 24)),
                Cell::from(Span::styled(s.status.as_str(), style)),
                Cell::from(format!("{}/{}", s.iterations, s.max_iterations)),
                Cell::from(format_time(s.started_at_ms)),
                Cell::from(s.duration_ms.map(duration).unwrap_or_else(|| "-".into())),
                Cell::from(format!("{}/{}", tokens(s.tokens_in), tokens(s.tokens_out))),
                Cell::from(format!(
                    "{} w{} s{}",
                    one_line(&s.environment, 12),
                    s.world,
                    s.seed
                )),
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
        "env",
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
            Constraint::Length(18),
        ],
    )
    .header(header)
    .block(block);
    frame.render_widget(table, area);
}

pub fn draw_picker(frame: &mut Frame, area: Rect, app: &AppState, picker: &Picker) {
    let theme = &app.theme;
    let lines: Vec<Line> = picker
        .specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let style = if i == picker.selected {
                theme.selected
            } else {
                theme.text
            };
            Line::styled(format!(" {} ", spec.display()), style)
        })
        .collect();
    let height = (lines.len() as u16 + 2).min(area.height);
    let popup = centered(area, 60, height);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(bordered(
            "New run: pick a session file (enter runs, esc closes)",
            true,
            app,
        )),
        popup,
    );
}

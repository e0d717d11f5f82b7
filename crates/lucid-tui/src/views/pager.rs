//! The pager over the whole view: one transcript entry, whole and wrapped, from its first
//! row on show; the search's matches highlighted; the search being typed on the last row.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};
use ratatui::Frame;

use super::bordered;
use super::transcript::style;
use crate::app::AppState;
use crate::pager::{match_count, matches, rows, Pager};

pub fn draw(frame: &mut Frame, area: Rect, app: &AppState, pager: &Pager) {
    let theme = &app.theme;
    frame.render_widget(Clear, area);
    let name = app
        .run
        .view
        .agents
        .get(&pager.agent)
        .map_or("?", |a| a.name.as_str());
    // The text's area: inside the border, less a row for the search being typed.
    let typing = u16::from(pager.typing.is_some());
    let inner = Rect {
        x: area.x.saturating_add(1),
        y: area.y.saturating_add(1),
        width: area.width.saturating_sub(2),
        height: area.height.saturating_sub(2 + typing),
    };
    app.hits.pager.set(inner);
    let width = usize::from(inner.width);
    let height = usize::from(inner.height);
    let rows = rows(app, pager, width);
    let first = pager.scroll.min(rows.len().saturating_sub(height));
    let mut title = format!(
        "{name} {} · entry {} · rows {}–{} of {}",
        pager.agent,
        pager.entry + 1,
        (first + 1).min(rows.len()),
        (first + height).min(rows.len()),
        rows.len()
    );
    if !pager.query.is_empty() {
        let count = match_count(&rows, &pager.query);
        title.push_str(&format!(
            " · /{} ({count} match{})",
            pager.query,
            if count == 1 { "" } else { "es" }
        ));
    }
    frame.render_widget(bordered(&title, true, app), area);
    let lines: Vec<Line> = rows
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, (tone, row))| {
            let base = style(*tone, theme);
            let found = matches(row, &pager.query);
            if found.is_empty() {
                return Line::styled(row.clone(), base);
            }
            let hit = if pager.current == Some(i) {
                theme.selected
            } else {
                theme.warning.patch(theme.selected)
            };
            let mut spans = Vec::new();
            let mut at = 0;
            for (start, end) in found {
                spans.push(Span::styled(row[at..start].to_string(), base));
                spans.push(Span::styled(row[start..end].to_string(), hit));
                at = end;
            }
            spans.push(Span::styled(row[at..].to_string(), base));
            Line::from(spans)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
    if let Some(typed) = &pager.typing {
        let prompt = Rect {
            y: inner.y + inner.height,
            height: 1,
            ..inner
        };
        frame.render_widget(
            Line::from(vec![
                Span::styled("/", theme.key),
                Span::styled(format!("{typed}▍"), theme.text),
            ]),
            prompt,
        );
    }
}

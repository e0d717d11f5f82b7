//! The Memory view: playbooks and notes with status badges, the active filters and
//! search, and a detail pane with the body, rules, provenance and the last change (or,
//! with `v`, the history of every version and the diff against the previous one); the
//! editor draws over the detail pane ([`super::memory_editor`]), the question before a
//! reject or retire over the view.

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::tree::thread_row;
use super::{bordered, centered, scroll_to};
use crate::app::AppState;
use crate::app::DreamWatch;
use crate::memory_state::{diff, Confirm, DiffLine, MemoryPane, MemoryStatus, Verdict};
use crate::theme::Theme;
use lucid_core::event::{format_time, one_line};

fn badge(status: MemoryStatus, theme: &Theme) -> Style {
    match status {
        MemoryStatus::Proposed => theme.proposed,
        MemoryStatus::Approved => theme.approved,
        MemoryStatus::Rejected => theme.rejected,
        MemoryStatus::Retired => theme.retired,
    }
}

/// Rows the dream panel gives the dreamer while it works.
const DREAM_PANEL_ROWS: u16 = 6;

/// The dream `D` started: its team, the dreamer's row and newest entries while it works,
/// then how it ended.
fn draw_dream(frame: &mut Frame, area: Rect, app: &AppState, dream: &DreamWatch) {
    let theme = &app.theme;
    let state = match &dream.outcome {
        None => "dreaming",
        Some(Ok(_)) => "ended",
        Some(Err(_)) => "failed",
    };
    let title = format!("Dream · team {} · {state}", one_line(&dream.team, 40));
    let block = bordered(&title, false, app);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let width = usize::from(inner.width);
    let now = if dream.outcome.is_none() {
        app.now_ms.max(dream.run.view.last_event_ms)
    } else {
        dream.run.view.last_event_ms
    };
    let order = dream.run.tree_order();
    let mut rows: Vec<Line> = order
        .first()
        .and_then(|&(id, depth)| thread_row(&dream.run, id, depth, now, theme))
        .into_iter()
        .collect();
    if rows.is_empty() && dream.outcome.is_none() {
        let waiting = if app.client.is_some() {
            "the lucid that holds this store is dreaming; what it proposes shows when it ends"
        } else {
            "starting the dreamer…"
        };
        rows.push(Line::styled(waiting, theme.dim));
    }
    match &dream.outcome {
        None => {
            let lead = order.first().and_then(|(id, _)| dream.run.thread(*id));
            if let Some(thread) = lead {
                let room = usize::from(inner.height).saturating_sub(rows.len());
                rows.extend(super::transcript::latest_lines(thread, width, room, theme));
            }
        }
        Some(Ok(message)) => rows.push(Line::styled(message.clone(), theme.done)),
        Some(Err(message)) => rows.push(Line::styled(message.clone(), theme.failed)),
    }
    frame.render_widget(Paragraph::new(rows), inner);
}

pub fn draw(frame: &mut Frame, area: Rect, app: &AppState) {
    let memory = &app.memory;
    let theme = &app.theme;
    let panel_height = match &app.dream {
        Some(dream) if dream.outcome.is_none() => DREAM_PANEL_ROWS + 2,
        Some(_) => 4,
        None => 0,
    };
    let [area, dream_area] =
        Layout::vertical([Constraint::Min(3), Constraint::Length(panel_height)]).areas(area);
    if let Some(dream) = &app.dream {
        draw_dream(frame, dream_area, app, dream);
    }
    let [left, right] =
        Layout::horizontal([Constraint::Percentage(40), Constraint::Percentage(60)]).areas(area);
    let visible = memory.visible();
    let filters = format!(
        "status {} · scope {} · kind {}{}",
        memory.status_filter.map_or("all", MemoryStatus::as_str),
        memory.scope_filter.as_deref().unwrap_or("all"),
        memory.kind_filter.as_deref().unwrap_or("all"),
        if memory.searching || !memory.search.is_empty() {
            format!(
                " · /{}{}",
                memory.search,
                if memory.searching { "▏" } else { "" }
            )
        } else {
            String::new()
        }
    );
    let title = format!("Memory ({}/{})", visible.len(), memory.items.len());
    let block = bordered(&title, memory.pane == MemoryPane::List, app);
    let inner = block.inner(left);
    frame.render_widget(block, left);
    let [filter_row, list_area] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(1)]).areas(inner);
    frame.render_widget(Line::styled(filters, theme.dim), filter_row);
    app.hits.memory_list.set(list_area);
    app.hits.memory_detail.set(right);
    if let Some(error) = &memory.error {
        frame.render_widget(
            Paragraph::new(Line::styled(error.clone(), theme.warning)).wrap(Wrap { trim: false }),
            list_area,
        );
    } else if visible.is_empty() {
        let text = if !memory.loaded {
            "Loading…"
        } else if memory.items.is_empty() {
            "No memories yet. Run a few sessions, then press D to dream."
        } else {
            "Nothing matches the filters."
        };
        frame.render_widget(Line::styled(text, theme.dim), list_area);
    } else {
        let rows = list_area.height as usize;
        // The list scrolls only as far as the cursor needs (clicks map rows the same way).
        let first = scroll_to(0, memory.selected, rows);
        let lines: Vec<Line> = visible
            .iter()
            .enumerate()
            .skip(first)
            .take(rows)
            .map(|(i, m)| {
                let line = Line::from(vec![
                    Span::styled(format!("{:<9} ", m.status.as_str()), badge(m.status, theme)),
                    Span::styled(format!("{:<10} ", m.kind), theme.dim),
                    Span::styled(
                        format!("{} v{}", one_line(&m.title, 60), m.version),
                        theme.text,
                    ),
                ]);
                if i == memory.selected {
                    line.style(theme.selected)
                } else {
                    line
                }
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), list_area);
    }
    draw_detail(frame, right, app);
    if let Some(confirm) = &memory.confirm {
        draw_confirm(frame, area, app, confirm);
    }
}

/// The question before a reject or retire.
fn draw_confirm(frame: &mut Frame, area: Rect, app: &AppState, confirm: &Confirm) {
    let title = one_line(&confirm.title, 60);
    let (heading, question, yes) = match confirm.verdict {
        Verdict::Reject => (
            "Reject?",
            format!("Reject “{title}”? It will have no effect (a approves it again later)."),
            " rejects   ",
        ),
        Verdict::Retire => (
            "Retire?",
            format!(
                "Retire “{title}”? It stays listed but no longer steers runs (a approves it again)."
            ),
            " retires   ",
        ),
    };
    let lines = vec![
        Line::from(question),
        Line::from(vec![
            Span::styled("y", app.theme.key),
            Span::raw(yes),
            Span::styled("any other key", app.theme.key),
            Span::raw(" keeps it"),
        ]),
    ];
    let popup = centered(area, 64, 6);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(bordered(heading, true, app)),
        popup,
    );
}

fn draw_detail(frame: &mut Frame, area: Rect, app: &AppState) {
    let memory = &app.memory;
    let theme = &app.theme;
    if let Some(editor) = &memory.editor {
        super::memory_editor::draw(frame, area, app, editor);
        return;
    }
    let focused = memory.pane == MemoryPane::Detail;
    let Some(item) = memory.current() else {
        frame.render_widget(bordered("Detail", focused, app), area);
        return;
    };
    let mut lines = vec![
        Line::from(vec![
            Span::styled(item.title.clone(), theme.header),
            Span::styled(
                format!("  {} · {} · v{} · ", item.kind, item.scope, item.version),
                theme.dim,
            ),
            Span::styled(item.status.as_str(), badge(item.status, theme)),
        ]),
        Line::from(vec![
            Span::styled(item.short_id.clone(), theme.title),
            Span::styled(format!(" · id {} · by {}", item.id, item.author), theme.dim),
        ]),
    ];
    if let Some(last) = item.history.last() {
        let (text, style) = if last.needs_review {
            (format!("{} (a approves it)", last.summary), theme.warning)
        } else {
            (
                format!(
                    "changed {}: {} (v: history)",
                    format_time(last.at_ms),
                    last.summary
                ),
                theme.dim,
            )
        };
        lines.push(Line::styled(text, style));
    }
    lines.push(Line::raw(""));
    if memory.show_versions {
        lines.push(Line::styled("history", theme.title));
        for entry in &item.history {
            lines.push(Line::from(vec![
                Span::styled(
                    format!(
                        "  v{} {} {}: ",
                        entry.version,
                        format_time(entry.at_ms),
                        entry.by
                    ),
                    theme.dim,
                ),
                Span::styled(
                    entry.summary.clone(),
                    if entry.needs_review {
                        theme.warning
                    } else {
                        theme.text
                    },
                ),
            ]));
        }
        let n = item.versions.len();
        match (
            n.checked_sub(2).and_then(|i| item.versions.get(i)),
            item.versions.last(),
        ) {
            (Some(old), Some(new)) => {
                lines.push(Line::styled(
                    format!("diff v{} → v{}", old.version, new.version),
                    theme.title,
                ));
                for line in diff(&old.body, &new.body) {
                    lines.push(match line {
                        DiffLine::Same(l) => Line::styled(format!("  {l}"), theme.dim),
                        DiffLine::Added(l) => Line::styled(format!("+ {l}"), theme.added),
                        DiffLine::Removed(l) => Line::styled(format!("- {l}"), theme.removed),
                    });
                }
            }
            _ => lines.push(Line::styled("only one version so far", theme.dim)),
        }
    } else {
        lines.extend(
            item.body
                .lines()
                .map(|l| Line::styled(l.to_string(), theme.text)),
        );
        if !item.rules.is_empty() {
            lines.push(Line::raw(""));
            lines.push(Line::styled("rules", theme.title));
            lines.extend(
                item.rules
                    .iter()
                    .map(|r| Line::styled(format!("  {r}"), theme.text)),
            );
        }
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            "provenance (enter replays the session)",
            theme.title,
        ));
        if item.provenance.is_empty() {
            lines.push(Line::styled("  none recorded", theme.dim));
        }
        for (i, cite) in item.provenance.iter().enumerate() {
            let line = Line::styled(
                format!("  {} {}", cite.session.short_id(), cite.note),
                theme.text,
            );
            lines.push(if focused && i == memory.citation {
                line.style(theme.selected)
            } else {
                line
            });
        }
    }
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(bordered("Detail", focused, app)),
        area,
    );
}

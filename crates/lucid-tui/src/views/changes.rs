//! What a `project` session changed, in the Run view: a one-line summary under the panes
//! (`3 files changed (+12 −4) · d diff · apply with: lucid apply ID`) and the diff overlay
//! the diff key opens (the file list, then the unified diff coloured line by line, scrolled
//! with the movement keys). Both read `RunState::changes`, already sanitized by the fold;
//! the scroll position lives in `RunUi::diff_scroll` and is only clamped here.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::transcript::cut;
use crate::app::AppState;
use crate::change_state::{Changes, DiffLineKind};
use crate::keymap::KeyAction;
use lucid_core::event::ChangeKind;

/// `3 files changed (+12 −4)`, as spans.
fn counts(changes: &Changes, app: &AppState) -> Vec<Span<'static>> {
    let theme = &app.theme;
    let n = changes.files.len();
    vec![
        Span::styled(
            format!("{n} file{} changed (", if n == 1 { "" } else { "s" }),
            theme.text,
        ),
        Span::styled(format!("+{}", changes.lines_added), theme.diff_added),
        Span::styled(" ", theme.text),
        Span::styled(format!("−{}", changes.lines_removed), theme.diff_removed),
        Span::styled(")", theme.text),
    ]
}

/// The summary line under the Run view's panes.
pub fn draw_summary(frame: &mut Frame, area: Rect, app: &AppState) {
    let Some(changes) = &app.run.changes else {
        return;
    };
    let theme = &app.theme;
    let mut spans = vec![Span::styled(" Changes: ", theme.title)];
    if changes.files.is_empty() {
        spans.push(Span::styled("no files changed", theme.dim));
        frame.render_widget(Line::from(spans), area);
        return;
    }
    spans.extend(counts(changes, app));
    if changes.in_place() {
        spans.push(Span::styled(" in place", theme.dim));
    }
    if let Some(key) = app.keymap.keys(KeyAction::ShowDiff).first() {
        spans.push(Span::styled(" · ", theme.dim));
        spans.push(Span::styled(key.to_string(), theme.key));
        spans.push(Span::styled(" diff", theme.hint));
    }
    if !changes.in_place() {
        if let Some(session) = app.run.view.session {
            spans.push(Span::styled(" · apply with: ", theme.dim));
            spans.push(Span::styled(
                format!("lucid apply {}", session.short_id()),
                theme.text,
            ));
        }
    }
    frame.render_widget(Line::from(spans), area);
}

/// The diff overlay, over the whole body.
pub fn draw_diff(frame: &mut Frame, area: Rect, app: &AppState) {
    let Some(changes) = &app.run.changes else {
        return;
    };
    let theme = &app.theme;
    let total = changes.rows();
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border_focus);
    let inner = block.inner(area);
    let rows = usize::from(inner.height);
    let width = usize::from(inner.width);
    let first = app
        .run_ui
        .diff_scroll
        .unwrap_or(0)
        .min(total.saturating_sub(rows.max(1)));
    let last = (first + rows).min(total);
    let mut title = vec![Span::styled(" Diff · ", theme.title)];
    title.extend(counts(changes, app));
    title.push(Span::styled(
        format!(
            " · iteration {} · rows {}–{last} of {total} · esc closes ",
            changes.iteration,
            (first + 1).min(total),
        ),
        theme.title,
    ));
    frame.render_widget(Clear, area);
    frame.render_widget(block.title(Line::from(title)), area);
    app.hits.diff.set(inner);

    let mut lines = Vec::with_capacity(rows);
    for row in first..last {
        let line = if let Some(file) = changes.files.get(row) {
            let (mark, style) = match file.change {
                ChangeKind::Added => ("A", theme.diff_added),
                ChangeKind::Modified => ("M", theme.diff_hunk),
                ChangeKind::Deleted => ("D", theme.diff_removed),
            };
            let text = format!(
                "{mark} {}  +{} −{}{}",
                file.path,
                file.lines_added,
                file.lines_removed,
                if file.binary { " (binary)" } else { "" }
            );
            Line::styled(cut(&text, width), style)
        } else if let Some(line) = row
            .checked_sub(changes.files.len() + 1)
            .and_then(|i| changes.diff.get(i))
        {
            let style = match line.kind {
                DiffLineKind::File => theme.diff_file,
                DiffLineKind::Hunk => theme.diff_hunk,
                DiffLineKind::Added => theme.diff_added,
                DiffLineKind::Removed => theme.diff_removed,
                DiffLineKind::Context => theme.diff_context,
                DiffLineKind::Note => theme.diff_note,
            };
            Line::styled(cut(&line.text, width), style)
        } else {
            Line::raw("")
        };
        lines.push(line);
    }
    frame.render_widget(Paragraph::new(lines), inner);
}

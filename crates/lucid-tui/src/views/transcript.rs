//! The transcript of the selected thread: its text (a turn streaming in grows at the end,
//! with a `▍` cursor), turns, tool calls (folded to one line,
//! `shell: cargo test → exit 101` for a command, expandable to the full result),
//! delegations, advisor answers, retries and errors. Rows wrap on word boundaries by
//! display width (`w` switches to one row per entry, cut with `…`); Enter on an entry
//! expands it to its whole text, wrapped. Only the entries on screen are turned into
//! rows; the scroll never leaves the pane half empty while there is more above.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{bordered, scroll_to};
use crate::app::AppState;
use crate::entry_lines::{self, Tone};
use crate::run_state::{Entry, Thread};
use crate::theme::Theme;
use crate::wrap;
use lucid_core::event::AgentStatus;

pub(super) use crate::wrap::cut;

/// Whether an entry is shown expanded.
pub fn expanded(app: &AppState, thread: Thread<'_>, index: usize) -> bool {
    let toggled = app.run_ui.expanded.contains(&(thread.agent.id, index));
    toggled != app.run_ui.expand_all
}

/// The style of a tone.
pub(super) fn style(tone: Tone, t: &Theme) -> Style {
    match tone {
        Tone::Text => t.transcript_text,
        Tone::Turn => t.turn,
        Tone::Tool => t.transcript_tool,
        Tone::ToolError => t.tool_error,
        Tone::Output => t.output,
        Tone::Delegate => t.delegate,
        Tone::Advisor | Tone::Pattern => t.advisor,
        Tone::Retry => t.retry,
        Tone::Error => t.error,
        Tone::Proposed => t.proposed,
        Tone::Prompt => t.hint,
        Tone::Finished(AgentStatus::Done) => t.done,
        Tone::Finished(AgentStatus::Failed) => t.failed,
        Tone::Finished(AgentStatus::Cancelled) => t.cancelled,
        Tone::Finished(AgentStatus::Running) => t.dim,
    }
}

/// Whether an entry shows as one row cut with `…`: folded summaries always (Enter shows
/// them whole), text when the transcript is compact (`w`).
fn one_row(entry: &Entry, open: bool, compact: bool) -> bool {
    let text = matches!(entry, Entry::Text(_) | Entry::Streaming { .. });
    !open && (compact || !text)
}

/// The rows of one entry at `width`: wrapped, or one row cut with `…` (and `…` after it
/// when the entry has more lines), see [`one_row`].
pub fn rows(entry: &Entry, open: bool, compact: bool, width: usize) -> Vec<(Tone, String)> {
    let lines = entry_lines::lines(entry, open);
    if one_row(entry, open, compact) {
        let more = lines.len() > 1;
        let (tone, first) = lines
            .into_iter()
            .next()
            .unwrap_or((Tone::Text, String::new()));
        let text = if more { format!("{first} …") } else { first };
        return vec![(tone, wrap::cut(&text, width))];
    }
    lines
        .into_iter()
        .flat_map(|(tone, line)| {
            wrap::rows(&line, width)
                .into_iter()
                .map(move |row| (tone, row))
        })
        .collect()
}

/// Rows an entry takes (what [`rows`] would make, counted without building them when
/// its lines fit).
pub fn height(entry: &Entry, open: bool, compact: bool, width: usize) -> usize {
    if one_row(entry, open, compact) {
        return 1;
    }
    // Text, the bulk of a long transcript, is measured where it lies.
    if let Entry::Text(lines) = entry {
        return lines
            .iter()
            .map(|line| wrap::height(line, width))
            .sum::<usize>()
            .max(1);
    }
    entry_lines::lines(entry, open)
        .iter()
        .map(|(_, line)| wrap::height(line, width))
        .sum::<usize>()
        .max(1)
}

/// The first row of each of a thread's newest `count` entries, oldest first (the Memory
/// view's dream panel).
pub fn latest_lines(
    thread: Thread<'_>,
    width: usize,
    count: usize,
    theme: &crate::theme::Theme,
) -> Vec<Line<'static>> {
    let mut lines: Vec<Line<'static>> = thread
        .transcript
        .entries
        .iter()
        .rev()
        .flat_map(|entry| {
            rows(entry, false, true, width)
                .into_iter()
                .next()
                .map(|(tone, text)| Line::styled(text, style(tone, theme)))
        })
        .take(count)
        .collect();
    lines.reverse();
    lines
}

/// The heights of every entry of `thread` as drawn now.
pub fn heights(app: &AppState, thread: Thread<'_>, width: usize) -> Vec<usize> {
    thread
        .transcript
        .entries
        .iter()
        .enumerate()
        .map(|(i, e)| height(e, expanded(app, thread, i), app.run_ui.compact, width))
        .collect()
}

/// The first row to show: the cursor's entry in view (its top when it is taller than
/// the pane), and never a pane with empty rows below while rows above are hidden.
pub fn first_row(remembered: usize, heights: &[usize], cursor: usize, rows: usize) -> usize {
    let cursor_row: usize = heights.iter().take(cursor).sum();
    let cursor_height = heights.get(cursor).copied().unwrap_or(1);
    let total: usize = heights.iter().sum();
    let bottom = cursor_row + cursor_height.min(rows).max(1) - 1;
    let first = scroll_to(remembered, bottom, rows).min(cursor_row);
    first.min(total.saturating_sub(rows))
}

pub fn draw(frame: &mut Frame, area: Rect, app: &AppState, focused: bool) {
    let thread = app.run_ui.selected.and_then(|id| app.run.thread(id));
    let title = match thread {
        Some(t) => format!(
            "Transcript: {} {} · {} entries{}",
            t.agent.name,
            t.agent.id,
            t.transcript.entries.len(),
            if app.run_ui.compact {
                " · one line each"
            } else {
                ""
            }
        ),
        None => "Transcript".to_string(),
    };
    let block = bordered(&title, focused, app);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    app.hits.transcript.set(inner);
    let Some(thread) = thread else {
        return;
    };
    let width = inner.width as usize;
    let rows = inner.height as usize;
    let cursor = app
        .run_ui
        .cursor
        .min(thread.transcript.entries.len().saturating_sub(1));
    let heights = heights(app, thread, width);
    let first = first_row(app.run_ui.transcript_scroll.get(), &heights, cursor, rows);
    app.run_ui.transcript_scroll.set(first);

    // Walk to the entry holding row `first`, then collect rows until the pane is full.
    let mut out = Vec::with_capacity(rows);
    let mut row = 0;
    for (i, entry) in thread.transcript.entries.iter().enumerate() {
        let h = heights[i];
        if row + h <= first {
            row += h;
            continue;
        }
        let open = expanded(app, thread, i);
        let selected = focused && i == cursor;
        for (k, (tone, text)) in rows_of(entry, open, app, width).into_iter().enumerate() {
            if row + k < first {
                continue;
            }
            let line = Line::styled(text, style(tone, &app.theme));
            out.push(if selected {
                line.patch_style(app.theme.selected)
            } else {
                line
            });
        }
        row += h;
        if out.len() >= rows {
            break;
        }
    }
    out.truncate(rows);
    frame.render_widget(Paragraph::new(out), inner);
}

fn rows_of(entry: &Entry, open: bool, app: &AppState, width: usize) -> Vec<(Tone, String)> {
    rows(entry, open, app.run_ui.compact, width)
}

//! The transcript of the selected thread: its text (a turn streaming in grows at the end,
//! with a `▍` cursor), turns, tool calls (folded to one line,
//! `shell: cargo test → exit 101` for a command, expandable to the full result),
//! delegations, advisor answers, retries and errors. Long lines are cut at the pane's
//! width; Enter on an entry expands it (text wraps, tool results show in full). Only the
//! entries on screen are turned into lines.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::Line;
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{bordered, duration, scroll_to, tokens};
use crate::app::AppState;
use crate::run_state::{Entry, Thread};
use lucid_core::event::AgentStatus;

/// Whether an entry is shown expanded.
fn expanded(app: &AppState, thread: Thread<'_>, index: usize) -> bool {
    let toggled = app.run_ui.expanded.contains(&(thread.agent.id, index));
    toggled != app.run_ui.expand_all
}

/// Rows `text` takes when wrapped at `width`.
fn wrapped_rows(text: &str, width: usize) -> usize {
    text.chars().count().max(1).div_ceil(width.max(1))
}

/// Rows an entry takes.
fn height(entry: &Entry, open: bool, width: usize) -> usize {
    match entry {
        Entry::Text(lines) if open => lines
            .iter()
            .map(|l| wrapped_rows(l, width))
            .sum::<usize>()
            .max(1),
        other => other.height(open && other.is_expandable()),
    }
}

/// Cuts a line to `width` characters, marking the cut.
pub(super) fn cut(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The lines of one entry.
fn lines(entry: &Entry, open: bool, width: usize, app: &AppState) -> Vec<Line<'static>> {
    let t = &app.theme;
    let one = |style: Style, text: String| vec![Line::styled(cut(&text, width), style)];
    match entry {
        Entry::Text(text) if open => text
            .iter()
            .flat_map(|line| {
                let chars: Vec<char> = line.chars().collect();
                if chars.is_empty() {
                    return vec![Line::raw("")];
                }
                chars
                    .chunks(width.max(1))
                    .map(|chunk| Line::styled(chunk.iter().collect::<String>(), t.transcript_text))
                    .collect()
            })
            .collect(),
        Entry::Streaming { lines, .. } => {
            // The text so far, with a cursor where the next piece lands.
            let last = lines.len().saturating_sub(1);
            lines
                .iter()
                .enumerate()
                .map(|(i, l)| {
                    let shown = if i == last {
                        format!("{l}▍")
                    } else {
                        l.clone()
                    };
                    Line::styled(cut(&shown, width), t.transcript_text)
                })
                .collect()
        }
        Entry::Text(text) if text.is_empty() => vec![Line::raw("")],
        Entry::Text(text) => text
            .iter()
            .map(|l| Line::styled(cut(l, width), t.transcript_text))
            .collect(),
        Entry::Turn {
            turn,
            tokens_in,
            tokens_out,
        } => one(
            t.turn,
            format!(
                "── turn {turn} · {} in · {} out",
                tokens(*tokens_in),
                tokens(*tokens_out)
            ),
        ),
        Entry::Tool {
            tool,
            input,
            command,
            output,
            is_error,
            ..
        } => {
            let (mark, style) = match output {
                None => ("…", t.transcript_tool),
                Some(_) if *is_error => ("✗", t.tool_error),
                Some(_) => ("✓", t.transcript_tool),
            };
            let fold = if open { "▾" } else { "▸" };
            let summary = match output {
                Some(out) if !open => {
                    format!(" → {}", out.first().map(String::as_str).unwrap_or(""))
                }
                _ => String::new(),
            };
            // A shell call reads as its command line and, folded, its status (`exit 0`).
            let call = match command {
                Some(command) => format!("{tool}: {command}"),
                None => format!("{tool}({input})"),
            };
            let mut rows = one(style, format!("{fold} {mark} {call}{summary}"));
            if open {
                if let Some(out) = output {
                    let style = if *is_error { t.tool_error } else { t.output };
                    rows.extend(
                        out.iter()
                            .map(|l| Line::styled(cut(&format!("    {l}"), width), style)),
                    );
                }
            }
            rows
        }
        Entry::Delegated {
            child,
            specialist,
            purpose,
        } => one(
            t.delegate,
            format!("⇢ delegated to {specialist} {child}: {purpose}"),
        ),
        Entry::Advisor {
            advisor,
            question,
            answer,
        } => {
            let fold = if open { "▾" } else { "▸" };
            let mut rows = one(t.advisor, format!("{fold} asked {advisor}: {question}"));
            if open {
                rows.push(Line::styled("    answer:", t.advisor));
                rows.extend(
                    answer
                        .iter()
                        .map(|l| Line::styled(cut(&format!("    {l}"), width), t.output)),
                );
            }
            rows
        }
        Entry::Retry {
            attempt,
            reason,
            delay_ms,
        } => one(
            t.retry,
            format!("↻ retry {attempt} in {}: {reason}", duration(*delay_ms)),
        ),
        Entry::Error(message) => one(t.error, format!("! {message}")),
        Entry::Pattern { summary, support } => one(
            t.advisor,
            format!("◆ pattern (support {support}): {summary}"),
        ),
        Entry::Proposal {
            title,
            change,
            version,
        } => one(
            t.proposed,
            format!("✚ proposed ({change}) v{version}: {title}"),
        ),
        Entry::Finished { status, answer } => {
            let style = match status {
                AgentStatus::Done => t.done,
                AgentStatus::Failed => t.failed,
                AgentStatus::Cancelled => t.cancelled,
                AgentStatus::Running => t.dim,
            };
            let answer = answer
                .as_deref()
                .map(|a| format!(": {a}"))
                .unwrap_or_default();
            one(style, format!("■ {}{answer}", status.as_str()))
        }
    }
}

/// The first line of a thread's newest entry (the Memory view's dreamer strip).
pub fn latest_line(app: &AppState, thread: Thread<'_>, width: usize) -> Option<Line<'static>> {
    let entry = thread.transcript.entries.last()?;
    lines(entry, false, width, app).into_iter().next()
}

pub fn draw(frame: &mut Frame, area: Rect, app: &AppState, focused: bool) {
    let thread = app.run_ui.selected.and_then(|id| app.run.thread(id));
    let title = match thread {
        Some(t) => format!(
            "Transcript: {} {} · {} entries",
            t.agent.name,
            t.agent.id,
            t.transcript.entries.len()
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
    // The cursor entry's first row, and the last.
    let mut cursor_row = 0;
    for (i, entry) in thread.transcript.entries.iter().enumerate().take(cursor) {
        cursor_row += height(entry, expanded(app, thread, i), width);
    }
    let cursor_height = thread
        .transcript
        .entries
        .get(cursor)
        .map_or(1, |e| height(e, expanded(app, thread, cursor), width));
    let bottom = cursor_row + cursor_height.min(rows).max(1) - 1;
    let mut first = scroll_to(app.run_ui.transcript_scroll.get(), bottom, rows);
    first = first.min(cursor_row);
    app.run_ui.transcript_scroll.set(first);

    // Walk to the entry holding row `first`, then collect rows until the pane is full.
    let mut out = Vec::with_capacity(rows);
    let mut row = 0;
    for (i, entry) in thread.transcript.entries.iter().enumerate() {
        let open = expanded(app, thread, i);
        let h = height(entry, open, width);
        if row + h <= first {
            row += h;
            continue;
        }
        let selected = focused && i == cursor;
        for (k, line) in lines(entry, open, width, app).into_iter().enumerate() {
            if row + k < first {
                continue;
            }
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

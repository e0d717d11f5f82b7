//! The run tree: the lead and its specialists nested as delegated, one row each with a
//! status glyph, turns, tokens, cost (when the model profile has prices), elapsed time
//! and purpose. Only the rows on screen are
//! built, so a 10,000-thread tree costs one depth-first walk per frame.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::{bordered, dollars, duration, row_style, scroll_to, tokens};
use crate::app::AppState;
use crate::run_state::{RunState, ThreadPhase};
use crate::theme::Theme;
use lucid_core::event::projection::Agent;
use lucid_core::event::{one_line, AgentId};

/// The glyph and style of a phase.
pub fn glyph(phase: ThreadPhase, theme: &Theme) -> (&'static str, Style) {
    match phase {
        ThreadPhase::Pending => ("○", theme.pending),
        ThreadPhase::Thinking => ("◐", theme.thinking),
        ThreadPhase::Streaming => ("◑", theme.thinking),
        ThreadPhase::CallingTool => ("»", theme.tool),
        ThreadPhase::Waiting => ("◷", theme.waiting),
        ThreadPhase::Done => ("✓", theme.done),
        ThreadPhase::Failed => ("✗", theme.failed),
        ThreadPhase::Cancelled => ("⊘", theme.cancelled),
    }
}

/// The branch drawing in front of a thread: `│  ├─ ` and the like.
fn prefix(run: &RunState, thread: &Agent, depth: usize) -> String {
    if depth == 0 {
        return String::new();
    }
    let is_last = |t: &Agent| {
        t.parent
            .and_then(|p| run.view.agents.get(&p))
            .is_none_or(|p| p.children.last() == Some(&t.id))
    };
    let mut parts = vec![if is_last(thread) {
        "└─ "
    } else {
        "├─ "
    }];
    let mut up = thread.parent.and_then(|p| run.view.agents.get(&p));
    while let Some(ancestor) = up {
        if ancestor.parent.is_none() {
            break;
        }
        parts.push(if is_last(ancestor) { "   " } else { "│  " });
        up = ancestor.parent.and_then(|p| run.view.agents.get(&p));
    }
    parts.reverse();
    parts.concat()
}

/// The rows of the tree from `first`, at most `count` of them, as text (for the view
/// and for tests).
pub fn tree_rows(
    app: &AppState,
    order: &[(AgentId, usize)],
    first: usize,
    count: usize,
) -> Vec<Line<'static>> {
    let now = app.clock_ms();
    order
        .iter()
        .skip(first)
        .take(count)
        .filter_map(|&(id, depth)| {
            let row = thread_row(&app.run, id, depth, now, &app.theme)?;
            Some(row.style(row_style(app.run_ui.selected == Some(id), app)))
        })
        .collect()
}

/// One thread's row of `run`'s tree: branch, glyph, name, and its accounting at `now`.
pub fn thread_row(
    run: &RunState,
    id: AgentId,
    depth: usize,
    now: u64,
    theme: &Theme,
) -> Option<Line<'static>> {
    let thread = run.view.agents.get(&id)?;
    let (mark, style) = glyph(thread.phase, theme);
    let mut spans = vec![
        Span::styled(prefix(run, thread, depth), theme.dim),
        Span::styled(format!("{mark} "), style),
        Span::styled(format!("{} {id}", thread.name), theme.text),
        Span::styled(
            if run.view.iteration > 1 {
                format!(" it{}", thread.iteration)
            } else {
                String::new()
            },
            theme.dim,
        ),
        Span::styled(
            format!(
                "  {} · {}t · {} tok{} · {}",
                thread.phase.label(),
                thread.last_turn,
                tokens(thread.tokens_in + thread.tokens_out),
                thread
                    .cost_usd
                    .map(|c| format!(" · {}", dollars(c)))
                    .unwrap_or_default(),
                duration(thread.elapsed_ms(now))
            ),
            theme.dim,
        ),
    ];
    if let Some(purpose) = &thread.purpose {
        spans.push(Span::styled(
            format!(" — {}", one_line(purpose, 120)),
            theme.hint,
        ));
    }
    Some(Line::from(spans))
}

pub fn draw(frame: &mut Frame, area: Rect, app: &AppState, focused: bool) {
    let order = app.run.tree_order();
    let title = format!("Threads ({})", order.len());
    let block = bordered(&title, focused, app);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    app.hits.tree.set(inner);
    if order.is_empty() {
        let text = match app.source {
            crate::app::Source::Idle => {
                "No run yet. Press 2 for past sessions, then n to start one."
            }
            _ => "Waiting for the first agent…",
        };
        frame.render_widget(Paragraph::new(Line::styled(text, app.theme.dim)), inner);
        return;
    }
    let cursor = app
        .run_ui
        .selected
        .and_then(|id| order.iter().position(|(o, _)| *o == id))
        .unwrap_or(0);
    let height = inner.height as usize;
    let first = scroll_to(app.run_ui.tree_scroll.get(), cursor, height);
    app.run_ui.tree_scroll.set(first);
    let rows = tree_rows(app, &order, first, height);
    frame.render_widget(Paragraph::new(rows), inner);
}
